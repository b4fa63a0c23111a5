package main

import (
	"flag"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/doctor"
	"github.com/floodharness/harness/internal/fault"
)

func doctorCmd() *cli.Command {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	return &cli.Command{
		FS:    fs,
		Usage: "say what this host gives the harness: memory cap, kernel peak, optional tools (exit 1: watchdog only)",
		Run: func(e *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.UsageErrorf("unexpected arguments %q", args)
			}
			r := doctor.Run(doctor.Options{Cgroups: cgroup.System(), Dir: "."})
			if err := r.Write(e.Stdout); err != nil {
				return err
			}
			if !r.Cap || !r.KernelPeak {
				return fault.Errorf(fault.Unmet, "no kernel memory cap with a kernel peak on this host")
			}
			return nil
		},
	}
}
