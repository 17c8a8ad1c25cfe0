package deploy

import "k8s.io/apimachinery/pkg/util/validation"

// validationDNSLabel applies the namespace naming rules of the API server.
func validationDNSLabel(s string) []string {
	return validation.IsDNS1123Label(s)
}
