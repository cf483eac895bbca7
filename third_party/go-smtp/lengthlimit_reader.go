package smtp

import (
	"bytes"
	"errors"
	"io"
)

var ErrTooLongLine = errors.New("smtp: too long a line in input stream")

// lineLimitReader reads from the underlying Reader but restricts
// line length of lines in input stream to a certain length.
//
// If line length exceeds the limit - Read returns ErrTooLongLine
type lineLimitReader struct {
	R         io.Reader
	LineLimit int

	curLineLength int
}

func (r *lineLimitReader) Read(b []byte) (int, error) {
	if r.curLineLength > r.LineLimit && r.LineLimit > 0 {
		return 0, ErrTooLongLine
	}

	n, err := r.R.Read(b)
	if err != nil {
		return n, err
	}

	if r.LineLimit == 0 {
		return n, nil
	}

	// authsmtp patch: count line lengths a line at a time (IndexByte)
	// instead of a byte at a time; a too-long line is handled by the
	// byte loop below, which also leaves curLineLength as upstream does.
	if cur, ok := lineLengthAfter(r.curLineLength, b[:n], r.LineLimit); ok {
		r.curLineLength = cur
		return n, nil
	}
	for _, chr := range b[:n] {
		if chr == '\n' {
			r.curLineLength = 0
		}
		r.curLineLength++

		if r.curLineLength > r.LineLimit {
			return 0, ErrTooLongLine
		}
	}

	return n, nil
}

// lineLengthAfter returns the length of the current line after p, cur
// being its length before (a line's length counts its leading LF), and
// false if some line in p grows beyond limit.
func lineLengthAfter(cur int, p []byte, limit int) (int, bool) {
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			cur += len(p)
			return cur, cur <= limit
		}
		if cur+i > limit {
			return cur, false
		}
		cur = 1 // the LF starts the next line
		if cur > limit {
			return cur, false
		}
		p = p[i+1:]
	}
}
