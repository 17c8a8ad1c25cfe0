package sandbox

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig for server that authenticates with the
// client certificate <pki>/<identity>.crt (or a bearer token when token is set).
func writeKubeconfig(path, server string, pki PKI, identity, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{
		Server:               server,
		CertificateAuthority: pki.Path("ca.crt"),
	}
	user := &clientcmdapi.AuthInfo{}
	if token != "" {
		user.Token = token
	} else {
		user.ClientCertificate = pki.Path(identity + ".crt")
		user.ClientKey = pki.Path(identity + ".key")
	}
	name := identity
	if name == "" {
		name = "token"
	}
	cfg.AuthInfos[name] = user
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: name}
	cfg.CurrentContext = "sandbox"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
