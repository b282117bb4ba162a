//go:build !linux && !darwin && !windows

package sockets

import "context"

// osState is unused where nothing is implemented.
type osState struct{}

// Scan is not implemented on this system.
func (s *Scanner) Scan(ctx context.Context, q Query) (Result, error) {
	return Result{}, ErrNotImplemented
}

// Owners is not implemented on this system.
func (s *Scanner) Owners(ctx context.Context, inodes map[uint64]struct{}) (Owners, error) {
	return Owners{}, ErrNotImplemented
}
