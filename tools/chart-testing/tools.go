//go:build tools

// Package tools pins chart-testing (make lint runs ct lint with it).
package tools

import _ "github.com/helm/chart-testing/v3/ct"
