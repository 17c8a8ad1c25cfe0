package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestGeneratePKIChains(t *testing.T) {
	pki, err := generatePKI(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := func(name string) *x509.CertPool {
		pem, err := os.ReadFile(pki.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no certificate", name)
		}
		return pool
	}
	load := func(name string) *x509.Certificate {
		kp, err := tls.LoadX509KeyPair(pki.Path(name+".crt"), pki.Path(name+".key"))
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		c, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	checks := []struct {
		cert, ca, dns string
		usage         []x509.ExtKeyUsage
	}{
		{"apiserver", "ca.crt", "kubernetes.default.svc", server},
		{"apiserver", "ca.crt", "localhost", server},
		{"serving", "ca.crt", "metrics-server.kube-system.svc", server},
		{"admin", "ca.crt", "", client},
		{"controller-manager", "ca.crt", "", client},
		{"front-proxy-client", "front-proxy-ca.crt", "", client},
	}
	for _, c := range checks {
		if _, err := load(c.cert).Verify(x509.VerifyOptions{Roots: roots(c.ca), DNSName: c.dns, KeyUsages: c.usage}); err != nil {
			t.Errorf("%s against %s (name %q): %v", c.cert, c.ca, c.dns, err)
		}
	}
	// The front-proxy client must not be accepted by the cluster CA, or any
	// client certificate could impersonate through the aggregator.
	if _, err := load("front-proxy-client").Verify(x509.VerifyOptions{Roots: roots("ca.crt"), KeyUsages: client}); err == nil {
		t.Error("front-proxy-client verifies against the cluster CA; it must have its own CA")
	}
	if got := load("admin").Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("admin organization = %v, want [system:masters]", got)
	}
}
