package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// The exporter serves /metrics over TLS in the suite (exporter.web.tls), with a certificate of a CA the
// suite makes; Prometheus verifies it through the ServiceMonitor's tlsConfig.
const exporterTLSSecret = "exporter-tls"

// exporterServerName is the name the exporter's certificate is issued for and Prometheus verifies
// (it scrapes pod IPs, so the ServiceMonitor names the server): <release>-gpu-metrics-exporter.<ns>.svc.
var exporterServerName = contract.DefaultRelease + "-gpu-metrics-exporter." + exporterNamespace + ".svc"

// exporterTLSValues are the chart values that turn TLS on and make the ServiceMonitor verify it.
func exporterTLSValues() map[string]string {
	return map[string]string{
		"exporter.web.tls.enabled":                         "true",
		"exporter.web.tls.secretName":                      exporterTLSSecret,
		"exporter.serviceMonitor.tlsConfig.ca.secret.name": exporterTLSSecret,
		"exporter.serviceMonitor.tlsConfig.ca.secret.key":  "ca.crt",
		"exporter.serviceMonitor.tlsConfig.serverName":     exporterServerName,
	}
}

// createExporterTLSSecret creates the exporter's namespace (Pod Security privileged) and a
// kubernetes.io/tls Secret in it: a fresh CA and a serving certificate for exporterServerName.
func createExporterTLSSecret(ctx context.Context, cs kubernetes.Interface) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: exporterNamespace,
		Labels: map[string]string{psapi.EnforceLevelLabel: string(psapi.LevelPrivileged)}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", exporterNamespace, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e exporter CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: exporterServerName},
		DNSNames: []string{exporterServerName}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: exporterTLSSecret, Namespace: exporterNamespace},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			"ca.crt":                pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		},
	}
	if _, err := cs.CoreV1().Secrets(exporterNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Secret %s/%s: %w", exporterNamespace, exporterTLSSecret, err)
	}
	return nil
}

// testScrapedOverTLS: every exporter target of Prometheus is scraped over https, verified against the
// suite's CA, and up; a plain-HTTP request to the exporter is not answered with metrics.
func testScrapedOverTLS(t *testing.T) {
	ctx := context.Background()
	targets, err := prometheusAPI(t).Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tg := range targets.Active {
		if string(tg.Labels["job"]) != contract.ExporterJob {
			continue
		}
		n++
		if !strings.HasPrefix(tg.ScrapeURL, "https://") || tg.Health != promv1.HealthGood {
			t.Errorf("exporter target %s: health %s (%s), want an https scrape that is up", tg.ScrapeURL, tg.Health, tg.LastError)
		}
	}
	if n == 0 {
		t.Fatalf("Prometheus has no active target of job %s", contract.ExporterJob)
	}
	cs := adminClient(t)
	exporters, err := componentPods(ctx, cs, env.plane.Options().Release, "exporter")
	if err != nil || len(exporters) == 0 {
		t.Fatalf("exporter pods: %d, %v", len(exporters), err)
	}
	e := exporters[0]
	if raw, err := cs.CoreV1().Pods(e.Namespace).ProxyGet("http", e.Name, "9400", "/metrics", nil).DoRaw(ctx); err == nil && strings.Contains(string(raw), "gpu_utilization_percent") {
		t.Errorf("exporter %s served metrics over plain HTTP while TLS is on", e.Name)
	}
	t.Logf("%d exporter targets scraped over https and verified against the suite's CA (server name %s)", n, exporterServerName)
}
