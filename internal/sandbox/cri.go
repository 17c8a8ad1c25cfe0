package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criClient talks to containerd's CRI service on the node's socket.
func criClient(socket string) (cri.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to containerd's CRI at %s: %w", socket, err)
	}
	return cri.NewRuntimeServiceClient(conn), func() { _ = conn.Close() }, nil
}

// socketAnswers reports whether a unix socket accepts connections.
func socketAnswers(socket string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "unix", socket)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	}
}

// removePodSandboxes stops and removes every pod sandbox (the CNI plugin
// takes each pod's veth and IP back; the shims exit with their pods).
func removePodSandboxes(ctx context.Context, socket string) error {
	rs, closeConn, err := criClient(socket)
	if err != nil {
		return err
	}
	defer closeConn()
	list, err := rs.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stop pod sandbox %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err))
		}
		if _, err := rs.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, fmt.Errorf("remove pod sandbox %s/%s: %w", sb.Metadata.Namespace, sb.Metadata.Name, err))
		}
	}
	return errors.Join(errs...)
}

// KillContainer kills a running container of a pod on the real node with
// SIGKILL, as a crash would; the kubelet restarts it by its restart policy.
func (s *Sandbox) KillContainer(ctx context.Context, namespace, pod, container string) error {
	if s.state.Node == nil {
		return errors.New("the sandbox has no real node: kwok pods run no containers")
	}
	rs, closeConn, err := criClient(s.state.Node.containerdSocket())
	if err != nil {
		return err
	}
	defer closeConn()
	list, err := rs.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{
		State: &cri.ContainerStateValue{State: cri.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{
			"io.kubernetes.pod.namespace":  namespace,
			"io.kubernetes.pod.name":       pod,
			"io.kubernetes.container.name": container,
		},
	}})
	if err != nil {
		return fmt.Errorf("list containers of %s/%s: %w", namespace, pod, err)
	}
	if len(list.Containers) == 0 {
		return fmt.Errorf("no running container %q in pod %s/%s on %s", container, namespace, pod, s.state.Node.Name)
	}
	for _, c := range list.Containers {
		// Timeout 0: SIGKILL at once, no graceful stop.
		if _, err := rs.StopContainer(ctx, &cri.StopContainerRequest{ContainerId: c.Id, Timeout: 0}); err != nil {
			return fmt.Errorf("kill container %s of %s/%s: %w", container, namespace, pod, err)
		}
	}
	return nil
}
