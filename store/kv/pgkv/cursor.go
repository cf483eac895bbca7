package pgkv

import "github.com/jackc/pgx/v5"

// bigValue is the largest value a cursor page carries; a larger one (a
// message body) is read when the cursor lands on it.
const bigValue = 64 << 10

// Page sizes: the first read of a cursor is small (most cursors seek and
// read a few keys), later ones grow.
const (
	firstPage = 8
	maxPage   = 256
)

// cursor walks a bucket by keyset pagination: each page is the next keys
// after the last one seen, in the direction of travel. A write in the
// transaction (a Delete through the cursor, a Put) makes it re-read from
// where it stands.
type cursor struct {
	b    *bucket
	rows []row // the page, in the order of travel
	pos  int   // index of the current row in rows
	desc bool  // rows run backwards
	full bool  // the page was full: more may follow
	gen  uint64
	size int // next page's size
}

type row struct {
	k, v []byte
	kind int8 // rowValue, rowBucket, rowBig
}

const (
	rowValue int8 = iota
	rowBucket
	rowBig // a value over bigValue, not in the page
)

func (c *cursor) current() ([]byte, []byte) {
	if c.pos < 0 || c.pos >= len(c.rows) {
		return nil, nil
	}
	r := &c.rows[c.pos]
	switch r.kind {
	case rowBucket:
		return r.k, nil
	case rowBig:
		v := c.b.Get(r.k)
		if v == nil {
			v = []byte{}
		}
		return r.k, v
	}
	return r.k, r.v
}

// fetch reads a page starting at from (all keys when nil) and lands on
// its first row.
func (c *cursor) fetch(from []byte, desc, inclusive bool) ([]byte, []byte) {
	t := c.b.tx
	c.rows, c.pos, c.desc, c.full, c.gen = c.rows[:0], 0, desc, false, t.gen
	if t.err != nil {
		return nil, nil
	}
	if c.size == 0 {
		c.size = firstPage
	}
	n := c.size
	c.size = min(c.size*4, maxPage)
	const cols = "SELECT key, value IS NULL, CASE WHEN octet_length(value) <= $2 THEN value END FROM kv WHERE bucket = $1"
	var q string
	args := []any{c.b.path, bigValue, n}
	switch {
	case from == nil && !desc:
		q = cols + " ORDER BY key LIMIT $3"
	case from == nil && desc:
		q = cols + " ORDER BY key DESC LIMIT $3"
	case !desc && inclusive:
		q = cols + " AND key >= $4 ORDER BY key LIMIT $3"
	case !desc:
		q = cols + " AND key > $4 ORDER BY key LIMIT $3"
	case inclusive:
		q = cols + " AND key <= $4 ORDER BY key DESC LIMIT $3"
	default:
		q = cols + " AND key < $4 ORDER BY key DESC LIMIT $3"
	}
	if from != nil {
		args = append(args, from)
	}
	if t.flush() != nil {
		return nil, nil
	}
	t.stmt()
	rows, err := t.ptx.Query(t.ctx, q, args...)
	if err != nil {
		t.fail(err)
		return nil, nil
	}
	var k, v []byte
	var isBucket bool
	_, err = pgx.ForEachRow(rows, []any{&k, &isBucket, &v}, func() error {
		r := row{k: k}
		switch {
		case isBucket:
			r.kind = rowBucket
		case v == nil:
			r.kind = rowBig
		default:
			r.v = v
		}
		c.rows = append(c.rows, r)
		k, v = nil, nil
		return nil
	})
	if err != nil {
		t.fail(err)
		c.rows = c.rows[:0]
		return nil, nil
	}
	c.full = len(c.rows) == n
	return c.current()
}

func (c *cursor) First() ([]byte, []byte) {
	c.size = 0
	return c.fetch(nil, false, true)
}

func (c *cursor) Last() ([]byte, []byte) {
	c.size = 0
	return c.fetch(nil, true, true)
}

func (c *cursor) Seek(seek []byte) ([]byte, []byte) {
	c.size = 0
	if seek == nil {
		seek = []byte{}
	}
	return c.fetch(seek, false, true)
}

// step moves one key forward (desc false) or back.
func (c *cursor) step(desc bool) ([]byte, []byte) {
	if c.pos < 0 || c.pos >= len(c.rows) {
		return nil, nil // ran off an end (or never placed)
	}
	k := c.rows[c.pos].k
	if c.desc == desc && c.gen == c.b.tx.gen {
		if c.pos+1 < len(c.rows) {
			c.pos++
			return c.current()
		}
		if !c.full {
			c.pos = len(c.rows)
			return nil, nil
		}
	} else if c.desc != desc {
		c.size = 0 // turned round: start small again
	}
	return c.fetch(k, desc, false)
}

func (c *cursor) Next() ([]byte, []byte) { return c.step(false) }
func (c *cursor) Prev() ([]byte, []byte) { return c.step(true) }

func (c *cursor) Delete() error {
	if c.pos < 0 || c.pos >= len(c.rows) {
		return nil
	}
	r := c.rows[c.pos]
	if r.kind == rowBucket {
		return errIncompatible
	}
	return c.b.Delete(r.k)
}
