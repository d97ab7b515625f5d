module github.com/diracgo/diracrpc

go 1.26

require (
	github.com/dsnet/compress v0.0.1
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/sony/gobreaker/v2 v2.4.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
