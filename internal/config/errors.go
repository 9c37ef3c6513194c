package config

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every error Parse, Validate,
// ParseListener and ParsePortRange return for a bad config.
var ErrInvalid = errors.New("invalid config")

// Problem is one thing wrong in a config file.
type Problem struct {
	File string // file name as given to Parse; empty for Validate on a hand-built Config
	Line int    // 1-based line; 0 when unknown
	Key  string // key path such as "sip.listen[1]"; empty for file-level problems
	Msg  string // what is wrong and how to fix it
}

// String formats the problem as "file:line: key: msg", leaving out the parts
// that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if p.File == "" {
			b.WriteString("line ")
		} else {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error carries every problem found in one config, in file order, so that an
// operator can fix them all in one go.
type Error struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// valueError is returned by the exported single-value parsers.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

func (e *valueError) Is(target error) bool { return target == ErrInvalid }

func invalid(msg string) error { return &valueError{msg: msg} }
