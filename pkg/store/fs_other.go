//go:build !linux

package store

import "errors"

func platformStatfsType(string) (FSType, error) { return 0, nil }

func platformFreeSpace(string) (int64, error) { return 0, errors.ErrUnsupported }

func platformStatfs(string) (fsStat, error) { return fsStat{}, errors.ErrUnsupported }
