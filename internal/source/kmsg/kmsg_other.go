//go:build !linux

package kmsg

import (
	"errors"
	"time"

	"github.com/darkscope/darkscope/internal/source"
)

func openDevice(string, bool) (recordReader, error) {
	return nil, &source.Permanent{Err: errors.New("kmsg source: /dev/kmsg exists on Linux only")}
}

func monotonicNow() (time.Duration, error) {
	return 0, errors.New("kmsg source: CLOCK_MONOTONIC is read on Linux only")
}
