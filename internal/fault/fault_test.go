package fault_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/floodharness/harness/internal/fault"
)

type kinded struct{ k fault.Kind }

func (e kinded) Error() string         { return "kinded" }
func (e kinded) FaultKind() fault.Kind { return e.k }

func TestKindOf(t *testing.T) {
	bad := fault.Errorf(fault.BadInput, "scenario.yaml:3: levels: want ≥ 1")
	reg := fault.Errorf(fault.Regression, "2 of 9 checks failed")
	for _, tc := range []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"nil", nil, fault.RunFailed},
		{"plain", errors.New("boom"), fault.RunFailed},
		{"wrapped kind", fmt.Errorf("load: %w", bad), fault.BadInput},
		{"own type", fmt.Errorf("x: %w", kinded{fault.Regression}), fault.Regression},
		{"join: regression outranks a failed write", errors.Join(errors.New("write junit: disk full"), reg), fault.Regression},
		{"join: bad input outranks a failure", errors.Join(errors.New("x"), bad), fault.BadInput},
		{"join inside a wrap", fmt.Errorf("gate: %w", errors.Join(bad, reg)), fault.Regression},
	} {
		if got := fault.KindOf(tc.err); got != tc.want {
			t.Errorf("%s: KindOf(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestWrapNil(t *testing.T) {
	if err := fault.Wrap(fault.BadInput, nil); err != nil {
		t.Errorf("Wrap(BadInput, nil) = %v, want nil", err)
	}
}
