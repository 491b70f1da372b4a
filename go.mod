module github.com/tributary-sec/tributary

go 1.26.8

require (
	github.com/linkedin/goavro/v2 v2.15.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/golang/snappy v0.0.1 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)
