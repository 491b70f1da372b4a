// Package schemas embeds Tributary's Avro schemas, the contract of every Kafka topic.
package schemas

import "embed"

// FS holds the .avsc files.
//
//go:embed *.avsc
var FS embed.FS
