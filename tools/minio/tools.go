//go:build tools

// Package tools pins the MinIO server that stands in for S3 locally and in tests.
package tools

import _ "github.com/minio/minio"
