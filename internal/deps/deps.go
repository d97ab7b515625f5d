// Package deps pins the project's third-party dependencies in go.mod while the
// packages that use them are being written. It is removed once every dependency
// is imported by real code.
package deps

import (
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/sony/gobreaker/v2"
	_ "go.yaml.in/yaml/v3"
)
