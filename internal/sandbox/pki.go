package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// keyPair is a certificate with its private key, kept in memory while the
// sandbox's PKI is generated and written to <dir>/pki as PEM files.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func (kp *keyPair) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.der})
}

func (kp *keyPair) keyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("marshal EC private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// certSpec describes one certificate to issue.
type certSpec struct {
	commonName   string
	organization []string
	dnsNames     []string
	ips          []net.IP
	server       bool
	client       bool
}

// newCA creates a self-signed certificate authority valid for ten years.
func newCA(commonName string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key %s: %w", commonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA %s: %w", commonName, err)
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

// issue signs a leaf certificate described by spec with the CA.
func (ca *keyPair) issue(spec certSpec) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key %s: %w", spec.commonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	var usages []x509.ExtKeyUsage
	if spec.server {
		usages = append(usages, x509.ExtKeyUsageServerAuth)
	}
	if spec.client {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.organization},
		DNSNames:     spec.dnsNames,
		IPAddresses:  spec.ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", spec.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %s: %w", spec.commonName, err)
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("random serial number: %w", err)
	}
	return serial, nil
}

// writePair writes <dir>/<name>.crt and <dir>/<name>.key.
func writePair(dir, name string, kp *keyPair) error {
	keyPEM, err := kp.keyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), kp.certPEM(), 0o644); err != nil {
		return fmt.Errorf("write %s.crt: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write %s.key: %w", name, err)
	}
	return nil
}

// PKI holds the paths of the sandbox's certificates and keys.
type PKI struct {
	Dir string
}

// Path returns the path of a PKI file, e.g. Path("ca.crt").
func (p PKI) Path(name string) string { return filepath.Join(p.Dir, name) }

// client certificate identities used by the sandbox's components.
var clientIdentities = []struct {
	file string
	cn   string
	orgs []string
}{
	{"admin", "sandbox-admin", []string{"system:masters"}},
	{"controller-manager", "system:kube-controller-manager", nil},
	{"scheduler", "system:kube-scheduler", nil},
	// kwok plays every kubelet; metrics-server and prometheus-adapter's
	// sandbox-only bootstrap identity use admin rights, which the tests never
	// rely on for RBAC checks (those impersonate service accounts).
	{"kwok", "kwok-controller", []string{"system:masters"}},
	{"metrics-server", "metrics-server", []string{"system:masters"}},
	// The API server towards kubelets (logs, exec, port-forward); RBAC binds
	// it to system:kubelet-api-admin (kubelets authorize it by webhook).
	{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", nil},
	// Prometheus' Kubernetes service discovery and its kubelet scrapes; a
	// ClusterRole grants it read access to what it discovers.
	{"prometheus", PrometheusUser, nil},
}

// PrometheusUser is the sandbox Prometheus' identity towards the API server.
const PrometheusUser = "sandbox-prometheus"

// nodeIdentities are the real node's client certificates.
func nodeIdentities(node string) []struct {
	file string
	cn   string
	orgs []string
} {
	return []struct {
		file string
		cn   string
		orgs []string
	}{
		// The Node authorizer and NodeRestriction know the kubelet by this name.
		{"kubelet-client", "system:node:" + node, []string{"system:nodes"}},
		// Bound to system:node-proxier by Kubernetes' bootstrap policy.
		{"kube-proxy", "system:kube-proxy", nil},
	}
}

// generatePKI creates every certificate the control plane needs:
// a cluster CA, the API server's serving certificate, client certificates
// per component, a front-proxy CA and client for API aggregation, and the
// service-account signing key.
//
// With a real node, the API server's certificate also names the node IP
// (the kubelet, kube-proxy and pods reach it there), and the node gets its
// kubelet client and serving certificates and kube-proxy's.
func generatePKI(dir string, node *NodeState) (PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return PKI{}, fmt.Errorf("create pki dir: %w", err)
	}
	ca, err := newCA("gpu-autoscaling-sandbox-ca")
	if err != nil {
		return PKI{}, err
	}
	if err := writePair(dir, "ca", ca); err != nil {
		return PKI{}, err
	}
	apiserver, err := ca.issue(certSpec{
		commonName: "kube-apiserver",
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ips:    apiserverIPs(node),
		server: true,
	})
	if err != nil {
		return PKI{}, err
	}
	if err := writePair(dir, "apiserver", apiserver); err != nil {
		return PKI{}, err
	}
	if err := issueClients(ca, dir, node); err != nil {
		return PKI{}, err
	}
	// Serving certificate shared by the local helper servers (metrics-server).
	// The aggregator verifies it against <service>.<namespace>.svc.
	serving, err := ca.issue(certSpec{commonName: "localhost",
		dnsNames: []string{"localhost", "metrics-server.kube-system.svc"},
		ips:      []net.IP{net.ParseIP("127.0.0.1")}, server: true})
	if err != nil {
		return PKI{}, err
	}
	if err := writePair(dir, "serving", serving); err != nil {
		return PKI{}, err
	}
	frontProxyCA, err := newCA("gpu-autoscaling-sandbox-front-proxy-ca")
	if err != nil {
		return PKI{}, err
	}
	if err := writePair(dir, "front-proxy-ca", frontProxyCA); err != nil {
		return PKI{}, err
	}
	frontProxyClient, err := frontProxyCA.issue(certSpec{commonName: "front-proxy-client", client: true})
	if err != nil {
		return PKI{}, err
	}
	if err := writePair(dir, "front-proxy-client", frontProxyClient); err != nil {
		return PKI{}, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PKI{}, fmt.Errorf("generate service-account key: %w", err)
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return PKI{}, fmt.Errorf("marshal service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return PKI{}, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return PKI{}, fmt.Errorf("write sa.key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return PKI{}, fmt.Errorf("write sa.pub: %w", err)
	}
	return PKI{Dir: dir}, nil
}

// apiserverIPs are the API server certificate's IP SANs: loopback, the
// kubernetes Service's ClusterIP and, with a real node, the node IP.
func apiserverIPs(node *NodeState) []net.IP {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}
	if node != nil {
		ips = append(ips, net.ParseIP(node.IP))
	}
	return ips
}

// issueClients writes every component's client certificate and, with a
// real node, the kubelet's serving certificate for the node's name and IP.
func issueClients(ca *keyPair, dir string, node *NodeState) error {
	ids := clientIdentities
	if node != nil {
		ids = append(slices.Clip(ids), nodeIdentities(node.Name)...)
		kubelet, err := ca.issue(certSpec{commonName: "system:node:" + node.Name, organization: []string{"system:nodes"},
			dnsNames: []string{node.Name}, ips: []net.IP{net.ParseIP(node.IP)}, server: true})
		if err != nil {
			return err
		}
		if err := writePair(dir, "kubelet-serving", kubelet); err != nil {
			return err
		}
	}
	for _, id := range ids {
		kp, err := ca.issue(certSpec{commonName: id.cn, organization: id.orgs, client: true})
		if err != nil {
			return err
		}
		if err := writePair(dir, id.file, kp); err != nil {
			return err
		}
	}
	return nil
}
