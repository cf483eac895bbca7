package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// upstreamDataReader is go-smtp v0.25.1's dataReader.Read, one byte at a
// time, kept as the reference the sliced reader must match.
type upstreamDataReader struct {
	r       *bufio.Reader
	state   int
	limited bool
	n       int64
}

func (r *upstreamDataReader) Read(b []byte) (n int, err error) {
	if r.limited {
		if r.n <= 0 {
			return 0, ErrDataTooLarge
		}
		if int64(len(b)) > r.n {
			b = b[0:r.n]
		}
	}
	for n < len(b) && r.state != stateEOF {
		var c byte
		c, err = r.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch r.state {
		case stateBeginLine:
			if c == '.' {
				r.state = stateDot
				continue
			}
			if c == '\r' {
				r.state = stateCR
				break
			}
			r.state = stateData
		case stateDot:
			if c == '\r' {
				r.state = stateDotCR
				continue
			}
			r.state = stateData
		case stateDotCR:
			if c == '\n' {
				r.state = stateEOF
				continue
			}
			r.state = stateData
		case stateCR:
			if c == '\n' {
				r.state = stateBeginLine
				break
			}
			r.state = stateData
		case stateData:
			if c == '\r' {
				r.state = stateCR
			}
		}
		b[n] = c
		n++
	}
	if err == nil && r.state == stateEOF {
		err = io.EOF
	}
	if r.limited {
		r.n -= int64(n)
	}
	return
}

// upstreamLineLimitReader is go-smtp v0.25.1's lineLimitReader.
type upstreamLineLimitReader struct {
	R             io.Reader
	LineLimit     int
	curLineLength int
}

func (r *upstreamLineLimitReader) Read(b []byte) (int, error) {
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

var errConnReset = errors.New("connection reset")

// pieces hands out its data at most size bytes per Read (as a network
// connection does), then end for ever.
type pieces struct {
	data []byte
	size int
	end  error
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, p.end
	}
	if len(b) > p.size {
		b = b[:p.size]
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}

type readerCase struct {
	bufSize, readSize, pieceSize int
	maxBytes                     int64
	lineLimit                    int
	end                          error
}

// transcript runs DATA as Conn.handleData does (the backend reads with
// readSize buffers until an error, then the rest is drained without the
// size limit), followed by reading what comes after the data, and writes
// down every Read's result.
func transcript(in []byte, c readerCase, sliced bool) string {
	var out strings.Builder
	src := &pieces{data: in, size: c.pieceSize, end: c.end}
	var ll io.Reader
	if sliced {
		ll = &lineLimitReader{R: src, LineLimit: c.lineLimit}
	} else {
		ll = &upstreamLineLimitReader{R: src, LineLimit: c.lineLimit}
	}
	br := bufio.NewReaderSize(ll, c.bufSize)
	var r io.Reader
	var unlimit func()
	if sliced {
		dr := &dataReader{r: br, limited: c.maxBytes > 0, n: c.maxBytes}
		r, unlimit = dr, func() { dr.limited = false }
	} else {
		dr := &upstreamDataReader{r: br, limited: c.maxBytes > 0, n: c.maxBytes}
		r, unlimit = dr, func() { dr.limited = false }
	}
	buf := make([]byte, c.readSize)
	for i := 0; i < 1e6; i++ {
		n, err := r.Read(buf)
		out.WriteString("read " + string(buf[:n]) + "|")
		if err != nil {
			out.WriteString("err " + err.Error() + "|")
			break
		}
	}
	unlimit()
	drained, err := io.Copy(io.Discard, r)
	out.WriteString("drained " + strconv.FormatInt(drained, 10) + "|")
	if err != nil {
		out.WriteString("drain err " + err.Error() + "|")
	}
	rest, err := io.ReadAll(br)
	out.WriteString("rest " + string(rest) + "|")
	if err != nil {
		out.WriteString("rest err " + err.Error())
	}
	return out.String()
}

func caseFrom(bufSize, readSize, pieceSize uint8, maxBytes, lineLimit uint16, end uint8) readerCase {
	c := readerCase{
		bufSize:   16 + int(bufSize), // bufio's smallest
		readSize:  1 + int(readSize),
		pieceSize: 1 + int(pieceSize),
		maxBytes:  int64(maxBytes % 600),
		lineLimit: int(lineLimit % 300),
		end:       io.EOF,
	}
	if end%2 == 1 {
		c.end = errConnReset
	}
	return c
}

func TestDataReaderMatchesUpstream(t *testing.T) {
	inputs := []string{
		"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"..leading dot\r\n...two\r\n.\r\nNOOP\r\n",
		"bare\nLF\n.\nMAIL FROM:<x>\r\n.\r\n",
		"a\r\n.\nb\r\n.\r\n",
		"a\n.\r\nb\r\n.\r\n",
		"a\r.\rb\r\n.\r\n",
		".\rX\r\n\r\r\n.\r\n.\r\n",
		"no end at all",
		"\r\n.\r\n",
		".\r\n",
		strings.Repeat("x", 500) + "\r\n.\r\n",
		"12345678\r\n123456789\r\n1234567890\r\n.\r\n", // lines around the limit of 11
	}
	cases := []readerCase{
		{bufSize: 4096, readSize: 64 << 10, pieceSize: 1 << 14, end: io.EOF},
		{bufSize: 16, readSize: 1, pieceSize: 1, end: io.EOF},
		{bufSize: 16, readSize: 7, pieceSize: 3, maxBytes: 10, lineLimit: 100, end: errConnReset},
		{bufSize: 64, readSize: 33, pieceSize: 100, lineLimit: 50, end: io.EOF},
		{bufSize: 32, readSize: 5, pieceSize: 9, maxBytes: 20, end: io.EOF},
		{bufSize: 16, readSize: 100, pieceSize: 7, lineLimit: 11, end: io.EOF},
		{bufSize: 16, readSize: 100, pieceSize: 7, lineLimit: 12, end: io.EOF},
	}
	for _, in := range inputs {
		for _, c := range cases {
			want := transcript([]byte(in), c, false)
			if got := transcript([]byte(in), c, true); got != want {
				t.Errorf("input %q, case %+v:\n got %q\nwant %q", in, c, got, want)
			}
		}
	}
}

// FuzzDataReader compares the sliced DATA and line-limit readers with
// upstream's byte-at-a-time ones on random input, buffer sizes, network
// read sizes, size and line limits and connection errors.
func FuzzDataReader(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n"), uint8(0), uint8(255), uint8(255), uint16(0), uint16(0), uint8(0))
	f.Add([]byte("a\r\n.\nMAIL FROM:<x>\r\n.\r\n"), uint8(3), uint8(4), uint8(1), uint16(0), uint16(20), uint8(0))
	f.Add([]byte(".\rX\r\n\r\r\n.\r\n.\r\nRSET\r\n"), uint8(0), uint8(1), uint8(2), uint16(5), uint16(0), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, bufSize, readSize, pieceSize uint8, maxBytes, lineLimit uint16, end uint8) {
		c := caseFrom(bufSize, readSize, pieceSize, maxBytes, lineLimit, end)
		want := transcript(in, c, false)
		if got := transcript(in, c, true); got != want {
			t.Fatalf("case %+v:\n got %q\nwant %q", c, got, want)
		}
	})
}

// BenchmarkDataReader reads a 10 KiB message of 72-byte lines through
// the DATA reader as a submission does.
func BenchmarkDataReader(b *testing.B) {
	var m bytes.Buffer
	for m.Len() < 10<<10 {
		m.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	m.WriteString(".\r\n")
	msg := m.Bytes()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(msg)))
	for _, impl := range []string{"upstream", "sliced"} {
		b.Run(impl, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				br := bufio.NewReaderSize(&lineLimitReader{R: bytes.NewReader(msg), LineLimit: 2000}, 4096)
				var r io.Reader = &dataReader{r: br}
				if impl == "upstream" {
					r = &upstreamDataReader{r: br}
				}
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}
