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

func TestGeneratePKIForTheRealNode(t *testing.T) {
	node := newNodeState(t.TempDir(), []int{1, 2, 3, 4})
	pki, err := generatePKI(t.TempDir(), node)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.Path("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, tc := range []struct {
		name, cn, org string
		usage         x509.ExtKeyUsage
		ip            string
	}{
		{"apiserver", "kube-apiserver", "", x509.ExtKeyUsageServerAuth, node.IP},
		{"kubelet-serving", "system:node:" + NodeName, "system:nodes", x509.ExtKeyUsageServerAuth, node.IP},
		{"kubelet-client", "system:node:" + NodeName, "system:nodes", x509.ExtKeyUsageClientAuth, ""},
		{"kube-proxy", "system:kube-proxy", "", x509.ExtKeyUsageClientAuth, ""},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "", x509.ExtKeyUsageClientAuth, ""},
		{"prometheus", PrometheusUser, "", x509.ExtKeyUsageClientAuth, ""},
	} {
		kp, err := tls.LoadX509KeyPair(pki.Path(tc.name+".crt"), pki.Path(tc.name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, _ := x509.ParseCertificate(kp.Certificate[0])
		opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tc.usage}}
		if tc.ip != "" {
			opts.DNSName = tc.ip
		}
		if _, err := c.Verify(opts); err != nil {
			t.Errorf("%s does not verify for %v %s: %v", tc.name, tc.usage, tc.ip, err)
		}
		if c.Subject.CommonName != tc.cn || (tc.org != "" && (len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != tc.org)) {
			t.Errorf("%s: subject %v, want CN %s O %s", tc.name, c.Subject, tc.cn, tc.org)
		}
	}
}
