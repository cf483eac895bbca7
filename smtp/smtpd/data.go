package smtpd

import (
	"errors"
	"io"
	"sync"
)

// Budget bounds the message bytes held in memory at once by both servers:
// above it new data is refused with 452 4.3.1 (try later), so many large
// messages at once cannot exhaust memory. Each message in flight costs a
// small multiple of its size (its buffer, then the commit's copy).
type Budget struct {
	mu   sync.Mutex
	max  int64
	used int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Take reserves n bytes; false (nothing taken) when they do not fit.
func (b *Budget) Take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// Fits reports whether n more bytes would fit now (SIZE= at MAIL).
func (b *Budget) Fits(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used+n <= b.max
}

// Release returns n bytes.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// Used is the bytes reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// ErrBusy: the in-flight budget is spent; the data was read and dropped.
var ErrBusy = errors.New("in-flight message budget exhausted")

// Headroom is the space kept before a message read by ReadData for the
// fields the servers put on top (Received, Authentication-Results,
// DKIM-Signature), so adding them does not copy the message.
const Headroom = 4 << 10

// Data is one message's bytes in one buffer, with room before them. A
// large message's buffer is its spool file mapped into memory.
type Data struct {
	buf    []byte // buf[off:] is the message
	off    int
	budget *Budget
	held   int64
	spool  *spool // nil: in memory
	mapped []byte // the spool file's mapping, unmapped at Release
}

// NewData wraps msg (no budget, no headroom: Prepend copies once).
func NewData(msg []byte) *Data { return &Data{buf: msg} }

// Bytes is the message.
func (d *Data) Bytes() []byte { return d.buf[d.off:] }

// Len is the message's length.
func (d *Data) Len() int { return len(d.buf) - d.off }

// Prepend puts p on top of the message.
func (d *Data) Prepend(p []byte) { d.ReplaceHead(0, p) }

// ReplaceHead replaces the first n bytes of the message with p: in place
// when p fits in the headroom and those n bytes, else by one copy.
func (d *Data) ReplaceHead(n int, p []byte) {
	if len(p) <= d.off+n {
		d.off += n - len(p)
		copy(d.buf[d.off:], p)
		return
	}
	rest := d.buf[d.off+n:]
	out := make([]byte, Headroom, Headroom+len(p)+len(rest))
	out = append(append(out, p...), rest...)
	d.buf, d.off = out, Headroom
}

// Release returns the message's bytes to the budget and drops its spool
// file; the server calls it once the message is committed or refused,
// and nothing may use Bytes afterwards.
func (d *Data) Release() {
	if d.budget != nil {
		d.budget.Release(d.held)
		d.budget, d.held = nil, 0
	}
	if d.spool != nil {
		d.spool.close(d.mapped)
		d.spool, d.mapped, d.buf, d.off = nil, nil, nil, 0
	}
}

const (
	firstChunk = 64 << 10
	maxChunk   = 1 << 20
	// SpoolAbove: a message larger than this is written to a spool file
	// as it arrives, not kept in the Go heap (see spool).
	SpoolAbove = 1 << 20
)

// firstChunks holds the first chunks of messages of unknown size while
// they arrive (Headroom+firstChunk bytes each): allocating 68 KiB for
// every 10 KiB message was most of a submission's garbage.
var firstChunks = sync.Pool{New: func() any {
	b := make([]byte, Headroom+firstChunk)
	return &b
}}

// DataOptions say how ReadData holds a message.
type DataOptions struct {
	SizeHint int64   // SIZE= of MAIL (0: unknown); a right one saves copies
	Budget   *Budget // takes the message's bytes as they arrive (nil: none)
	SpoolDir string  // where messages over SpoolAbove go ("": memory only)
}

// ReadData reads one message from r (go-smtp's DATA reader) into one
// buffer, taking its bytes from the budget as they arrive. When the
// budget runs out it reads r to its end (the session stays in step),
// drops the data and returns ErrBusy. Other errors are r's, or the spool
// file's.
func ReadData(r io.Reader, o DataOptions) (*Data, error) {
	d := &Data{budget: o.Budget}
	fail := func(err error) (*Data, error) {
		d.Release()
		return nil, err
	}
	take := func(n int) bool {
		if n == 0 || o.Budget == nil {
			return true
		}
		if !o.Budget.Take(int64(n)) {
			return false
		}
		d.held += int64(n)
		return true
	}
	spoolOK := o.SpoolDir != "" && canSpool
	// chunks[0] starts with the headroom; the others are appended.
	var chunks [][]byte
	var scratch *[]byte // chunks[0] when the size is unknown
	if o.SizeHint > 0 && (!spoolOK || o.SizeHint <= SpoolAbove) {
		// +1: the read that sees EOF needs room
		chunks = [][]byte{make([]byte, Headroom, Headroom+o.SizeHint+1)}
	} else {
		scratch = firstChunks.Get().(*[]byte)
		chunks = [][]byte{(*scratch)[:Headroom]}
	}
	next, total := firstChunk, 0
	for {
		c := &chunks[len(chunks)-1]
		if len(*c) == cap(*c) {
			if spoolOK && total > SpoolAbove {
				return d.spoolRest(r, o.SpoolDir, chunks, total, take)
			}
			chunks = append(chunks, make([]byte, 0, next))
			next = min(2*next, maxChunk)
			continue
		}
		n, err := r.Read((*c)[len(*c):cap(*c)])
		*c = (*c)[:len(*c)+n]
		total += n
		if !take(n) {
			io.Copy(io.Discard, r)
			return fail(ErrBusy)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if len(chunks) == 1 && scratch != nil {
		// Most mail is far smaller than the scratch chunk: keep only
		// what arrived, and the chunk for the next message.
		d.buf, d.off = make([]byte, len(chunks[0])), Headroom
		copy(d.buf[Headroom:], chunks[0][Headroom:])
		firstChunks.Put(scratch)
		return d, nil
	}
	if len(chunks) == 1 {
		d.buf, d.off = chunks[0], Headroom
		return d, nil
	}
	d.buf = make([]byte, 0, Headroom+total)
	for _, c := range chunks {
		d.buf = append(d.buf, c...)
	}
	d.off = Headroom
	return d, nil
}

// spoolRest moves what ReadData has read so far (chunks, headroom first)
// into a spool file, streams the rest of r after it and maps the file.
func (d *Data) spoolRest(r io.Reader, dir string, chunks [][]byte, total int, take func(int) bool) (*Data, error) {
	fail := func(err error) (*Data, error) {
		d.Release()
		return nil, err
	}
	sp, err := newSpool(dir)
	if err != nil {
		io.Copy(io.Discard, r)
		return fail(err)
	}
	d.spool = sp
	for _, c := range chunks {
		if _, err := sp.Write(c); err != nil {
			io.Copy(io.Discard, r)
			return fail(err)
		}
	}
	chunks = nil
	buf := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(buf)
		total += n
		if !take(n) {
			io.Copy(io.Discard, r)
			return fail(ErrBusy)
		}
		if _, err := sp.Write(buf[:n]); err != nil {
			io.Copy(io.Discard, r)
			return fail(err)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	m, err := sp.mapFile(Headroom + total)
	if err != nil {
		return fail(err)
	}
	d.mapped, d.buf, d.off = m, m, Headroom
	return d, nil
}

// DefaultInFlight is the default budget: room for ten of the largest
// messages at once, and never less than 64 MiB.
func DefaultInFlight(maxSize int64) int64 {
	return max(10*maxSize, 64<<20)
}
