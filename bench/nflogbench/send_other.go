//go:build !linux

package main

import (
	"errors"
	"time"
)

func generate(string, float64, uint64, time.Duration) error {
	return errors.New("the generator needs Linux (sendmmsg)")
}
