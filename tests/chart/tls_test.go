package chart_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"
)

const (
	// tlsWarningAnnotation marks the generated TLS objects rendered without cluster access.
	tlsWarningAnnotation = "gpu-autoscaling.medical-kg.io/tls-warning"
	// tlsWarningComment opens the comment block above the generated Secret in the same case.
	tlsWarningComment = "# WARNING: rendered without cluster access"
	// userSecret is the Secret name the existingSecret tests hand to the chart.
	userSecret = "adapter-serving-cert"
)

// newCAPEM returns a fresh self-signed ECDSA CA certificate and its private key, PEM-encoded.
func newCAPEM() (certPEM, keyPEM string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "test-adapter-ca"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// adapterValues renders an `adapter:` override from a nested map (YAML-marshalled, so any PEM text is
// quoted correctly).
func adapterValues(adapter map[string]any) string {
	b, err := yaml.Marshal(map[string]any{"adapter": adapter})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// existingSecretValues selects tls.source=existingSecret with the given Secret name and caBundle.
func existingSecretValues(name, caBundle string) string {
	return adapterValues(map[string]any{"tls": map[string]any{
		"source":         "existingSecret",
		"existingSecret": map[string]any{"name": name, "caBundle": caBundle},
	}})
}

// tlsObjects returns the adapter's TLS-related objects of a render (Secrets, APIServices, cert-manager
// Certificates and Issuers, the adapter Deployment that mounts the serving Secret) as JSON, keyed by
// kind/namespace/name.
func tlsObjects(objects []object) map[string]string {
	out := map[string]string{}
	for _, o := range objects {
		switch o.kind {
		case "Secret", "APIService", "Certificate", "Issuer":
		case "Deployment":
			if o.name != adapterName {
				continue
			}
		default:
			continue
		}
		out[o.kind+"/"+o.ns+"/"+o.name] = string(o.raw)
	}
	return out
}

func adapterSecret(objects []object) *corev1.Secret {
	for _, s := range typedOf[*corev1.Secret](objects) {
		if s.Name == adapterName+"-tls" {
			return s
		}
	}
	return nil
}

// servingVolume returns the Secret name the adapter Deployment mounts at /var/run/serving-cert.
func servingVolume(t *testing.T, objects []object) string {
	t.Helper()
	dep := one(t, filterName(typedOf[*appsv1.Deployment](objects), adapterName), "adapter Deployment")
	c := dep.Spec.Template.Spec.Containers[0]
	mounted := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/var/run/serving-cert" {
			mounted = m.Name
		}
	}
	require.NotEmpty(t, mounted, "nothing mounted at /var/run/serving-cert")
	crt, _ := argValue(c.Args, "--tls-cert-file")
	assert.Equal(t, "/var/run/serving-cert/tls.crt", crt)
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == mounted {
			require.NotNil(t, v.Secret, "volume %s is not a Secret", mounted)
			return v.Secret.SecretName
		}
	}
	require.Failf(t, "volume missing", "the Deployment mounts volume %s, which it does not declare", mounted)
	return ""
}

// TestAdapterTLSStableModesRenderTheSameTwice: with tls.source existingSecret or certManager, two
// `helm template` runs (no cluster, as Argo CD renders) give identical TLS objects, the same caBundle, and no
// warning; the whole output is identical too.
func TestAdapterTLSStableModesRenderTheSameTwice(t *testing.T) {
	t.Parallel()
	ca, _ := newCAPEM()
	modes := []struct {
		name         string
		values       string
		wantCABundle []byte // nil: no caBundle in the manifest (cert-manager injects it)
		wantSecret   string // the Secret the Deployment mounts
		wantKinds    []string
	}{
		{name: "existingSecret", values: existingSecretValues(userSecret, ca), wantCABundle: []byte(ca), wantSecret: userSecret,
			wantKinds: []string{"APIService", "Deployment"}},
		{name: "certManager", values: adapterValues(map[string]any{"tls": map[string]any{"source": "certManager"}}),
			wantSecret: adapterName + "-tls", wantKinds: []string{"APIService", "Deployment", "Certificate", "Issuer"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			req := renderRequest{values: m.values}
			out1, out2 := render(t, req), render(t, req)
			first, second := decodeAll(t, out1), decodeAll(t, out2)
			tls1, tls2 := tlsObjects(first), tlsObjects(second)
			kinds := map[string]bool{}
			for k := range tls1 {
				kinds[strings.SplitN(k, "/", 2)[0]] = true
			}
			for _, k := range m.wantKinds {
				assert.True(t, kinds[k], "no %s among the TLS objects: %v", k, tls1)
			}
			assert.Equal(t, tls1, tls2, "the TLS objects differ between two renders")
			assert.Equal(t, out1, out2, "two renders of the same values differ")

			for _, objects := range [][]object{first, second} {
				apis := typedOf[*apiregistrationv1.APIService](objects)
				require.Len(t, apis, 2)
				for _, a := range apis {
					assert.False(t, a.Spec.InsecureSkipTLSVerify, a.Name)
					if m.wantCABundle == nil {
						assert.Empty(t, a.Spec.CABundle, "%s: cert-manager injects the caBundle", a.Name)
						assert.Equal(t, namespace+"/"+adapterName, a.Annotations["cert-manager.io/inject-ca-from"], a.Name)
					} else {
						assert.Equal(t, m.wantCABundle, a.Spec.CABundle, "%s: caBundle is the supplied CA", a.Name)
					}
					assert.NotContains(t, a.Annotations, tlsWarningAnnotation, a.Name)
				}
				assert.Nil(t, adapterSecret(objects), "the chart renders no serving Secret in %s mode", m.name)
				assert.Equal(t, m.wantSecret, servingVolume(t, objects))
			}
			assert.NotContains(t, out1, tlsWarningAnnotation)
			assert.NotContains(t, out1, tlsWarningComment)
		})
	}
}

// TestAdapterGeneratedTLSChangesWithoutAClusterAndSaysSo: the default tls.source=helm cannot keep its CA
// under `helm template` (lookup sees no cluster): two renders give different CAs, and the Secret (comment
// block and annotation) and both APIServices (annotation) say so and point to the stable modes.
func TestAdapterGeneratedTLSChangesWithoutAClusterAndSaysSo(t *testing.T) {
	t.Parallel()
	out1, out2 := render(t, renderRequest{}), render(t, renderRequest{})
	first, second := decodeAll(t, out1), decodeAll(t, out2)
	s1, s2 := adapterSecret(first), adapterSecret(second)
	require.NotNil(t, s1, "generated TLS Secret")
	require.NotNil(t, s2, "generated TLS Secret")
	require.NotEmpty(t, s1.Data["ca.crt"])
	assert.NotEqual(t, s1.Data["ca.crt"], s2.Data["ca.crt"], "without a cluster every render generates a new CA")
	assert.NotEqual(t, parseCert(t, s1.Data["ca.crt"], "ca.crt").SerialNumber, parseCert(t, s2.Data["ca.crt"], "ca.crt").SerialNumber)

	for i, objects := range [][]object{first, second} {
		secret := []*corev1.Secret{s1, s2}[i]
		assertTLSWarning(t, "Secret "+secret.Name, secret.Annotations[tlsWarningAnnotation])
		apis := typedOf[*apiregistrationv1.APIService](objects)
		require.Len(t, apis, 2)
		for _, a := range apis {
			assert.Equal(t, secret.Data["ca.crt"], a.Spec.CABundle, "%s: caBundle is this render's CA", a.Name)
			assertTLSWarning(t, "APIService "+a.Name, a.Annotations[tlsWarningAnnotation])
		}
	}

	// The comment block is in the Secret's manifest itself, above apiVersion (helm template keeps comments).
	doc := secretManifest(t, out1, adapterName+"-tls")
	at := strings.Index(doc, tlsWarningComment)
	require.GreaterOrEqual(t, at, 0, "no warning comment in the Secret manifest:\n%s", doc)
	assert.Less(t, at, strings.Index(doc, "apiVersion:"), "the warning comment opens the manifest")
	for _, want := range []string{"adapter.tls.source=existingSecret", "certManager", "GitOps: Argo CD and Flux"} {
		assert.Contains(t, doc, want)
	}

	t.Run("insecureSkipTLSVerify: the APIServices carry no caBundle and no warning", func(t *testing.T) {
		t.Parallel()
		objects := decodeAll(t, render(t, renderRequest{set: map[string]string{"adapter.apiService.insecureSkipTLSVerify": "true"}}))
		for _, a := range typedOf[*apiregistrationv1.APIService](objects) {
			assert.True(t, a.Spec.InsecureSkipTLSVerify, a.Name)
			assert.Empty(t, a.Spec.CABundle, a.Name)
			assert.NotContains(t, a.Annotations, tlsWarningAnnotation, a.Name)
		}
		secret := adapterSecret(objects)
		require.NotNil(t, secret)
		assertTLSWarning(t, "Secret "+secret.Name, secret.Annotations[tlsWarningAnnotation])
	})
}

func assertTLSWarning(t *testing.T, what, got string) {
	t.Helper()
	require.NotEmpty(t, got, "%s lacks annotation %s", what, tlsWarningAnnotation)
	for _, want := range []string{"without cluster access", "adapter.tls.source=existingSecret", "certManager"} {
		assert.Contains(t, got, want, "%s: annotation %s", what, tlsWarningAnnotation)
	}
}

// secretManifest returns the raw text of the rendered Secret manifest with this name.
func secretManifest(t *testing.T, out, name string) string {
	t.Helper()
	for _, doc := range releaseutil.SplitManifests(out) {
		raw, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err)
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		require.NoError(t, json.Unmarshal(raw, &head))
		if head.Kind == "Secret" && head.Metadata.Name == name {
			return doc
		}
	}
	require.Failf(t, "Secret not rendered", "no Secret %s in the output", name)
	return ""
}

// TestAdapterExistingSecret: the adapter serves with the user's Secret, the chart renders none, and both
// APIServices carry the supplied CA; with insecureSkipTLSVerify the caBundle may be left out.
func TestAdapterExistingSecret(t *testing.T) {
	t.Parallel()
	ca, _ := newCAPEM()
	objects := decodeAll(t, render(t, renderRequest{values: existingSecretValues(userSecret, ca)}))
	assert.Equal(t, userSecret, servingVolume(t, objects), "the Deployment mounts the named Secret")
	for _, o := range objects {
		assert.NotEqual(t, "Secret", o.kind, "the chart renders no Secret with tls.source=existingSecret (%s %s)", o.kind, o.name)
		assert.NotEqual(t, "cert-manager.io/v1", gvOf(o), "no cert-manager object with tls.source=existingSecret (%s %s)", o.kind, o.name)
	}
	apis := typedOf[*apiregistrationv1.APIService](objects)
	require.Len(t, apis, 2)
	for _, a := range apis {
		assert.Equal(t, ca, string(a.Spec.CABundle), "%s: caBundle is the supplied CA", a.Name)
		assert.True(t, parseCert(t, a.Spec.CABundle, a.Name+" caBundle").IsCA)
		assert.False(t, a.Spec.InsecureSkipTLSVerify, a.Name)
		assert.NotContains(t, a.Annotations, "cert-manager.io/inject-ca-from", a.Name)
	}

	t.Run("insecureSkipTLSVerify without a caBundle", func(t *testing.T) {
		t.Parallel()
		values := adapterValues(map[string]any{
			"tls":        map[string]any{"source": "existingSecret", "existingSecret": map[string]any{"name": userSecret}},
			"apiService": map[string]any{"insecureSkipTLSVerify": true},
		})
		objects := decodeAll(t, render(t, renderRequest{values: values}))
		assert.Equal(t, userSecret, servingVolume(t, objects))
		assert.Empty(t, typedOf[*corev1.Secret](objects))
		for _, a := range typedOf[*apiregistrationv1.APIService](objects) {
			assert.True(t, a.Spec.InsecureSkipTLSVerify, a.Name)
			assert.Empty(t, a.Spec.CABundle, a.Name)
		}
	})
}

func gvOf(o object) string {
	var head struct {
		APIVersion string `json:"apiVersion"`
	}
	_ = json.Unmarshal(o.raw, &head)
	return head.APIVersion
}

// TestNotesWarnAboutGeneratedTLSWithoutACluster: NOTES.txt repeats the warning in generated mode without a
// cluster (the SDK engine without a client answers lookup with an empty map, as `helm template` does) and
// stays quiet in the stable modes and in rules-only mode.
func TestNotesWarnAboutGeneratedTLSWithoutACluster(t *testing.T) {
	t.Parallel()
	const warning = "WARNING: rendered without cluster access"
	notes := renderNotes(t, nil)
	assert.Contains(t, notes, warning)
	for _, want := range []string{"adapter.tls.source=helm", "adapter.tls.source=existingSecret", "adapter.tls.source=certManager", `"GitOps: Argo CD and Flux"`} {
		assert.Contains(t, notes, want)
	}

	ca, _ := newCAPEM()
	for name, adapter := range map[string]map[string]any{
		"existingSecret": {"tls": map[string]any{"source": "existingSecret", "existingSecret": map[string]any{"name": userSecret, "caBundle": ca}}},
		"certManager":    {"tls": map[string]any{"source": "certManager"}},
		"rulesOnly":      {"mode": "rulesOnly"},
	} {
		assert.NotContains(t, renderNotes(t, map[string]any{"adapter": adapter}), warning, name)
	}
}
