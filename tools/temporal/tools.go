//go:build tools

// Package tools pins the Temporal CLI (dev server + Web UI) that the local stack and tests run.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
