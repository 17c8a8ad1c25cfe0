package operator

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

// StatusReport is the machine-readable form of --action status (-o json|yaml).
type StatusReport struct {
	Release     ReleaseInfo      `json:"release"`
	APIServices []APIServiceInfo `json:"apiServices"`
	HPAs        []HPAInfo        `json:"hpas"`
}

// ReleaseInfo describes the Helm release.
type ReleaseInfo struct {
	Name         string    `json:"name"`
	Namespace    string    `json:"namespace"`
	Revision     int       `json:"revision"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chartVersion"`
	AppVersion   string    `json:"appVersion"`
	Status       string    `json:"status"`
	LastDeployed time.Time `json:"lastDeployed"`
}

// APIServiceInfo is the Available condition of one metrics APIService.
type APIServiceInfo struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
}

// HPAInfo summarises one HorizontalPodAutoscaler.
type HPAInfo struct {
	Name            string         `json:"name"`
	Target          string         `json:"target"`
	CurrentReplicas int32          `json:"currentReplicas"`
	DesiredReplicas int32          `json:"desiredReplicas"`
	MinReplicas     int32          `json:"minReplicas"`
	MaxReplicas     int32          `json:"maxReplicas"`
	LastScaleTime   *time.Time     `json:"lastScaleTime,omitempty"`
	Metrics         []HPAMetric    `json:"metrics"`
	Conditions      []HPACondition `json:"conditions"`
}

// HPAMetric is one entry of an HPA's spec.metrics and its current value.
type HPAMetric struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Current string `json:"current"`
	Target  string `json:"target"`
}

// HPACondition is one HPA status condition.
type HPACondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

func newStatusReport(rel *release.Release, states []deploy.APIServiceState, hpas []hpastatus.HPA) StatusReport {
	r := StatusReport{
		Release: ReleaseInfo{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Status: rel.Info.Status.String(),
			LastDeployed: rel.Info.LastDeployed.UTC().Time},
		APIServices: []APIServiceInfo{}, HPAs: []HPAInfo{},
	}
	if md := rel.Chart.Metadata; md != nil {
		r.Release.Chart, r.Release.ChartVersion, r.Release.AppVersion = md.Name, md.Version, md.AppVersion
	}
	for _, s := range states {
		r.APIServices = append(r.APIServices, APIServiceInfo{Name: s.Name, Available: s.Available, Reason: s.Reason, Message: s.Message})
	}
	for _, h := range hpas {
		info := HPAInfo{Name: h.Name, Target: h.Target, CurrentReplicas: h.CurrentReplicas, DesiredReplicas: h.DesiredReplicas,
			MinReplicas: h.MinReplicas, MaxReplicas: h.MaxReplicas, LastScaleTime: h.LastScaleTime,
			Metrics: []HPAMetric{}, Conditions: []HPACondition{}}
		for _, m := range h.Metrics {
			info.Metrics = append(info.Metrics, HPAMetric(m))
		}
		for _, c := range h.Conditions {
			info.Conditions = append(info.Conditions, HPACondition(c))
		}
		r.HPAs = append(r.HPAs, info)
	}
	return r
}

// encode writes v as indented JSON or as YAML (from the same JSON field names).
func encode(w io.Writer, format string, v any) error {
	var out []byte
	var err error
	switch format {
	case OutputJSON:
		out, err = json.MarshalIndent(v, "", "  ")
		out = append(out, '\n')
	case OutputYAML:
		out, err = yaml.Marshal(v)
	default:
		return fmt.Errorf("unknown output format %q", format)
	}
	if err != nil {
		return fmt.Errorf("encode the %s report: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}
