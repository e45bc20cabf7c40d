//go:build tools

// Package tools pins Docker Compose, whose `config` validates docker-compose.yml in the tests.
package tools

import _ "github.com/docker/compose/v5/cmd"
