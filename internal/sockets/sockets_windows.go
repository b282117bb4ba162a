package sockets

import "golang.org/x/sys/windows"

// privileged: the owning pid of other users' sockets needs an elevated token.
func privileged() bool { return windows.GetCurrentProcessToken().IsElevated() }
