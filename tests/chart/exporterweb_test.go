package chart_test

import (
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yamlv3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A bcrypt hash of "s3cret" (exporter-toolkit's basic_auth_users format).
const testBcrypt = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"

const webConfigSecret = exporterName + "-web-config"

// exporterWeb renders the chart with values and returns the exporter's container, pod template,
// ServiceMonitor endpoint (nil without one) and rendered web config Secret (nil without one).
func exporterWeb(t *testing.T, values string, extra ...string) (corev1.Container, corev1.PodTemplateSpec, map[string]any, *corev1.Secret) {
	t.Helper()
	objects := decodeAll(t, render(t, renderRequest{values: values, extraArgs: extra}))
	ds := one(t, typedOf[*appsv1.DaemonSet](objects), "exporter DaemonSet")
	var endpoint map[string]any
	if sms := byKind(objects, "ServiceMonitor"); len(sms) > 0 {
		eps, _, err := unstructured.NestedSlice(one(t, sms, "ServiceMonitor").obj.(*unstructured.Unstructured).Object, "spec", "endpoints")
		require.NoError(t, err)
		require.Len(t, eps, 1)
		endpoint = eps[0].(map[string]any)
	}
	var secret *corev1.Secret
	if s := filterName(typedOf[*corev1.Secret](objects), webConfigSecret); len(s) > 0 {
		secret = s[0]
	}
	return ds.Spec.Template.Spec.Containers[0], ds.Spec.Template, endpoint, secret
}

// parseWebConfig decodes the rendered web config strictly as exporter-toolkit's Config.
func parseWebConfig(t *testing.T, s *corev1.Secret) web.Config {
	t.Helper()
	require.NotNil(t, s, "web config Secret")
	text, ok := s.StringData["web-config.yml"]
	require.True(t, ok, "web-config.yml in %v", s.StringData)
	var cfg web.Config
	dec := yamlv3.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cfg), "web config:\n%s", text)
	return cfg
}

func volumeByName(pod corev1.PodTemplateSpec, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

func mountByName(c corev1.Container, name string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func TestExporterWebDefaultsPlainHTTP(t *testing.T) {
	t.Parallel()
	c, pod, ep, secret := exporterWeb(t, "exporter:\n  serviceMonitor:\n    enabled: true\n", monitoringAPIs...)
	assert.Nil(t, secret, "no web config without TLS or basic auth")
	v, ok := argValue(c.Args, "--web.max-connections")
	assert.True(t, ok)
	assert.Equal(t, "64", v)
	_, ok = argValue(c.Args, "--web.config.file")
	assert.False(t, ok, "no --web.config.file: %v", c.Args)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	assert.Equal(t, corev1.URISchemeHTTP, c.LivenessProbe.HTTPGet.Scheme)
	assert.Equal(t, corev1.URISchemeHTTP, c.ReadinessProbe.HTTPGet.Scheme)
	assert.Equal(t, "http", ep["scheme"])
	assert.NotContains(t, ep, "tlsConfig")
	assert.NotContains(t, ep, "basicAuth")
	assert.Nil(t, volumeByName(pod, "web-config"))
}

func TestExporterWebTLS(t *testing.T) {
	t.Parallel()
	const tls = "exporter:\n  web:\n    maxConnections: 16\n    tls:\n      enabled: true\n      secretName: exporter-tls\n"
	t.Run("ServiceMonitor", func(t *testing.T) {
		t.Parallel()
		c, pod, ep, secret := exporterWeb(t, tls+"  serviceMonitor:\n    enabled: true\n    tlsConfig:\n      ca:\n        secret: {name: exporter-tls, key: ca.crt}\n      serverName: gpu-metrics-exporter\n", monitoringAPIs...)
		cfg := parseWebConfig(t, secret)
		assert.Equal(t, "/etc/gpu-metrics-exporter/tls/tls.crt", cfg.TLSConfig.TLSCertPath)
		assert.Equal(t, "/etc/gpu-metrics-exporter/tls/tls.key", cfg.TLSConfig.TLSKeyPath)
		assert.Empty(t, cfg.Users)

		v, _ := argValue(c.Args, "--web.config.file")
		assert.Equal(t, "/etc/gpu-metrics-exporter/web/web-config.yml", v)
		v, _ = argValue(c.Args, "--web.max-connections")
		assert.Equal(t, "16", v)
		require.NotNil(t, volumeByName(pod, "web-config"))
		assert.Equal(t, webConfigSecret, volumeByName(pod, "web-config").Secret.SecretName)
		require.NotNil(t, volumeByName(pod, "tls"))
		assert.Equal(t, "exporter-tls", volumeByName(pod, "tls").Secret.SecretName)
		require.NotNil(t, mountByName(c, "tls"))
		assert.Equal(t, "/etc/gpu-metrics-exporter/tls", mountByName(c, "tls").MountPath)
		assert.True(t, mountByName(c, "tls").ReadOnly)
		assert.Equal(t, "/etc/gpu-metrics-exporter/web", mountByName(c, "web-config").MountPath)
		assert.NotEmpty(t, pod.Annotations["checksum/web-config"], "a changed web config rolls the pods")

		// The probes keep their meaning over HTTPS (the kubelet does not verify the certificate).
		require.NotNil(t, c.LivenessProbe.HTTPGet)
		assert.Equal(t, corev1.URISchemeHTTPS, c.LivenessProbe.HTTPGet.Scheme)
		assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
		assert.Equal(t, corev1.URISchemeHTTPS, c.ReadinessProbe.HTTPGet.Scheme)

		assert.Equal(t, "https", ep["scheme"])
		assert.Equal(t, map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "exporter-tls", "key": "ca.crt"}},
			"serverName": "gpu-metrics-exporter"}, ep["tlsConfig"])
	})
	t.Run("scrape annotations", func(t *testing.T) {
		t.Parallel()
		_, pod, ep, _ := exporterWeb(t, tls)
		assert.Nil(t, ep)
		assert.Equal(t, "true", pod.Annotations["prometheus.io/scrape"])
		assert.Equal(t, "https", pod.Annotations["prometheus.io/scheme"])
	})
	t.Run("no scheme annotation without TLS", func(t *testing.T) {
		t.Parallel()
		_, pod, _, _ := exporterWeb(t, "")
		assert.NotContains(t, pod.Annotations, "prometheus.io/scheme")
	})
}

func TestExporterWebBasicAuth(t *testing.T) {
	t.Parallel()
	values := "exporter:\n  web:\n    basicAuth:\n      users:\n        prometheus: \"" + testBcrypt + "\"\n" +
		"  serviceMonitor:\n    enabled: true\n    basicAuth:\n      username: {name: scrape-auth, key: username}\n      password: {name: scrape-auth, key: password}\n"
	c, _, ep, secret := exporterWeb(t, values, monitoringAPIs...)
	cfg := parseWebConfig(t, secret)
	assert.False(t, cfg.TLSConfig.IsEnabled(), "basic auth alone keeps plain HTTP")
	require.Contains(t, cfg.Users, "prometheus")
	assert.Equal(t, testBcrypt, string(cfg.Users["prometheus"]))
	// exporter-toolkit asks for the password on every path: the probes check the port instead.
	assert.Nil(t, c.LivenessProbe.HTTPGet)
	require.NotNil(t, c.LivenessProbe.TCPSocket)
	assert.Equal(t, "metrics", c.LivenessProbe.TCPSocket.Port.String())
	require.NotNil(t, c.ReadinessProbe.TCPSocket)
	assert.Equal(t, "http", ep["scheme"])
	assert.Equal(t, map[string]any{"username": map[string]any{"name": "scrape-auth", "key": "username"},
		"password": map[string]any{"name": "scrape-auth", "key": "password"}}, ep["basicAuth"])
}
