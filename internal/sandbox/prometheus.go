package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"
)

// ScrapeJob is one Prometheus scrape job the sandbox adds to its
// configuration (the GPU plane derives the exporter job from the chart).
type ScrapeJob struct {
	Name           string
	MetricsPath    string
	Scheme         string
	HonorLabels    bool
	ScrapeInterval time.Duration
	ScrapeTimeout  time.Duration
	// Targets are host:port addresses; Labels are added to each.
	Targets []ScrapeTarget
	// Relabel are Prometheus relabel_configs applied to the targets.
	Relabel []map[string]any
}

// ScrapeTarget is one address and its target labels.
type ScrapeTarget struct {
	Address string
	Labels  map[string]string
}

type promConfig struct {
	jobs []ScrapeJob
}

type promYAML struct {
	Global        map[string]string `json:"global"`
	ScrapeConfigs []promScrape      `json:"scrape_configs"`
}

type promScrape struct {
	JobName        string           `json:"job_name"`
	HonorLabels    bool             `json:"honor_labels"`
	MetricsPath    string           `json:"metrics_path,omitempty"`
	Scheme         string           `json:"scheme,omitempty"`
	ScrapeInterval string           `json:"scrape_interval,omitempty"`
	ScrapeTimeout  string           `json:"scrape_timeout,omitempty"`
	StaticConfigs  []promStatic     `json:"static_configs"`
	RelabelConfigs []map[string]any `json:"relabel_configs,omitempty"`
}

type promStatic struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

func (s *Sandbox) prometheusConfigPath() string {
	return filepath.Join(s.opts.Dir, "config", "prometheus.yaml")
}

func (s *Sandbox) writePrometheusConfig() error {
	s.mu.Lock()
	jobs := append([]ScrapeJob(nil), s.prom.jobs...)
	s.mu.Unlock()
	cfg := promYAML{
		Global: map[string]string{
			"scrape_interval":     s.opts.ScrapeInterval.String(),
			"evaluation_interval": s.opts.ScrapeInterval.String(),
		},
		ScrapeConfigs: []promScrape{{
			JobName:       "prometheus",
			StaticConfigs: []promStatic{{Targets: []string{fmt.Sprintf("127.0.0.1:%d", s.state.Ports.Prometheus)}}},
		}},
	}
	for _, j := range jobs {
		sc := promScrape{JobName: j.Name, HonorLabels: j.HonorLabels, MetricsPath: j.MetricsPath, Scheme: j.Scheme,
			RelabelConfigs: j.Relabel}
		if j.ScrapeInterval > 0 {
			sc.ScrapeInterval = j.ScrapeInterval.String()
		}
		if j.ScrapeTimeout > 0 {
			sc.ScrapeTimeout = j.ScrapeTimeout.String()
		}
		for _, t := range j.Targets {
			sc.StaticConfigs = append(sc.StaticConfigs, promStatic{Targets: []string{t.Address}, Labels: t.Labels})
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode prometheus config: %w", err)
	}
	if err := os.WriteFile(s.prometheusConfigPath(), data, 0o644); err != nil {
		return fmt.Errorf("write prometheus config: %w", err)
	}
	return nil
}

func (s *Sandbox) prometheusArgs() []string {
	return []string{
		"--config.file=" + s.prometheusConfigPath(),
		"--storage.tsdb.path=" + filepath.Join(s.opts.Dir, "prometheus"),
		"--storage.tsdb.retention.time=6h",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", s.state.Ports.Prometheus),
		"--web.enable-lifecycle",
		"--log.level=warn",
	}
}

// SetScrapeJob adds or replaces a scrape job and reloads Prometheus.
func (s *Sandbox) SetScrapeJob(ctx context.Context, job ScrapeJob) error {
	s.mu.Lock()
	replaced := false
	for i := range s.prom.jobs {
		if s.prom.jobs[i].Name == job.Name {
			s.prom.jobs[i] = job
			replaced = true
		}
	}
	if !replaced {
		s.prom.jobs = append(s.prom.jobs, job)
	}
	s.mu.Unlock()
	if err := s.writePrometheusConfig(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.PrometheusURL()+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload prometheus: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload prometheus: %s (see %s)", resp.Status, filepath.Join(s.logDir(), "prometheus.log"))
	}
	return nil
}
