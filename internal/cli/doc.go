// Package cli is what every binary of the harness shares: the environment
// a command runs in, subcommand dispatch with flags anywhere among the
// operands, the one mapping from a failure's kind to an exit code, and the
// commands that more than one binary offers (serve, load). A command here
// only maps flags to an options value and calls one package function. It
// never links plotting or reports, so the lean server and client binaries
// that use it stay small.
package cli
