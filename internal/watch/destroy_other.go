//go:build !linux

package watch

import (
	"context"
	"errors"
)

// DestroyWatch needs Linux's sock_diag; elsewhere Start fails and the
// watcher polls alone.
type DestroyWatch struct{}

func (d *DestroyWatch) Start(context.Context) error {
	return errors.New("socket destruction notices need Linux")
}
func (d *DestroyWatch) Stop()                      {}
func (d *DestroyWatch) Drain() ([]Destroyed, bool) { return nil, false }
func (d *DestroyWatch) Len() int                   { return 0 }
