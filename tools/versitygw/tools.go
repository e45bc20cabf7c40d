//go:build tools

// Package tools pins Versity's S3 gateway (posix backend), the second S3 server the blob-store contract suite runs on.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
