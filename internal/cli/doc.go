// Package cli is what every binary of the harness shares: the environment
// a command runs in, subcommand dispatch with flags anywhere among the
// operands, and the one mapping from a failure's kind to an exit code. A
// command only maps its flags to an options value and calls one package
// function. It links nothing else of the harness, so the lean server and
// client binaries that use it stay small.
package cli
