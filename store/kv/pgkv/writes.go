package pgkv

import (
	"bytes"
	"slices"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Round trips are what a transaction costs here (each statement waits
// for the server), so a transaction keeps two maps:
//
//   - reads: every value Get read (nil for a missing key). The snapshot
//     does not change within a transaction, so reading a key twice (the
//     traffic counter or a mailbox record, once per message of a group
//     commit) costs one query.
//   - writes: Puts and Deletes not sent yet. They go in one round trip
//     (an upsert and a delete over arrays) before the commit, or before
//     any statement whose answer they could change (a cursor's page, a
//     bucket check, a count); Get answers from them directly. Writing a
//     key several times sends only the last value.
//
// A failed flush fails the transaction, as a failed Put did (kv: Update
// returns the error whatever fn returned).

// cell is one key of one bucket.
type cell struct{ bucket, key string }

type pendingWrite struct {
	value  []byte // nil: delete
	delete bool
}

// directPut is the size from which a Put goes at once, on its own: a
// message body is not worth copying into a batch.
const directPut = bigValue

// cachedGet answers Get from the transaction's writes and reads, if it can.
func (t *tx) cachedGet(c cell) (v []byte, ok bool) {
	if w, ok := t.writes[c]; ok {
		if w.delete {
			return nil, true
		}
		return w.value, true
	}
	v, ok = t.reads[c]
	return v, ok
}

func (t *tx) noteRead(c cell, v []byte) {
	if t.reads == nil {
		t.reads = map[cell][]byte{}
	}
	t.reads[c] = v
}

// queue adds a write to send later.
func (t *tx) queue(c cell, w pendingWrite) {
	if t.writes == nil {
		t.writes = map[cell]pendingWrite{}
	}
	t.writes[c] = w
}

// flush sends the pending writes, upserts and deletes in one round trip,
// in key order (so concurrent transactions lock rows in the same order).
func (t *tx) flush() error {
	if t.err != nil || len(t.writes) == 0 {
		return t.err
	}
	cells := make([]cell, 0, len(t.writes))
	for c := range t.writes {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b cell) int {
		if c := bytes.Compare([]byte(a.bucket), []byte(b.bucket)); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.key), []byte(b.key))
	})
	var putB, putK, putV, delB, delK [][]byte
	for _, c := range cells {
		w := t.writes[c]
		t.noteRead(c, w.value) // what a Get reads once it is sent
		if w.delete {
			delB, delK = append(delB, []byte(c.bucket)), append(delK, []byte(c.key))
		} else {
			putB, putK, putV = append(putB, []byte(c.bucket)), append(putK, []byte(c.key)), append(putV, w.value)
		}
	}
	clear(t.writes)
	var batch pgx.Batch
	if len(putB) > 0 {
		batch.Queue(`INSERT INTO kv (bucket, key, value)
			SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])
			ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`, putB, putK, putV)
	}
	if len(delB) > 0 {
		batch.Queue(`DELETE FROM kv WHERE (bucket, key) IN (SELECT * FROM unnest($1::bytea[], $2::bytea[]))
			AND value IS NOT NULL`, delB, delK)
	}
	t.db.stats.statements.Add(int64(batch.Len()))
	t.db.stats.roundTrips.Add(1)
	if err := t.ptx.SendBatch(t.ctx, &batch).Close(); err != nil {
		t.fail(err)
	}
	return t.err
}

// counters count what transactions cost (Stats).
type counters struct {
	transactions, writes, retries, statements, roundTrips atomic.Int64
}

// Stats says what the database was asked since Open.
type Stats struct {
	// Transactions counts transaction attempts (a retried Update counts
	// each attempt), Writes those of Update; Retries the attempts that
	// failed on a serialization failure or deadlock and were run again.
	Transactions, Writes, Retries int64
	// Statements counts the SQL statements sent, BEGIN and COMMIT or
	// ROLLBACK included; RoundTrips the waits for the server (a flush
	// sends its upsert and delete in one).
	Statements, RoundTrips int64
}

// Stats returns the counts so far.
func (d *DB) Stats() Stats {
	return Stats{
		Transactions: d.stats.transactions.Load(),
		Writes:       d.stats.writes.Load(),
		Retries:      d.stats.retries.Load(),
		Statements:   d.stats.statements.Load(),
		RoundTrips:   d.stats.roundTrips.Load(),
	}
}

// stmt counts one statement that is its own round trip.
func (t *tx) stmt() {
	t.db.stats.statements.Add(1)
	t.db.stats.roundTrips.Add(1)
}

// GetMany reads the keys not known to the transaction in one query.
func (b *bucket) GetMany(keys [][]byte) [][]byte {
	t := b.tx
	out := make([][]byte, len(keys))
	if t.err != nil {
		return out
	}
	var ask [][]byte
	at := map[string][]int{} // key → its indexes in keys
	for i, k := range keys {
		c := cell{string(b.path), string(k)}
		if v, ok := t.cachedGet(c); ok {
			out[i] = v
			continue
		}
		if at[c.key] == nil {
			ask = append(ask, k)
		}
		at[c.key] = append(at[c.key], i)
	}
	if len(ask) == 0 {
		return out
	}
	t.stmt()
	rows, err := t.ptx.Query(t.ctx, "SELECT key, value FROM kv WHERE bucket = $1 AND key = ANY($2)", b.path, ask)
	if err != nil {
		t.fail(err)
		return out
	}
	var k, v []byte
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		for _, i := range at[string(k)] {
			out[i] = v // nil for a nested bucket (NULL)
		}
		t.noteRead(cell{string(b.path), string(k)}, v)
		delete(at, string(k))
		k, v = nil, nil
		return nil
	})
	if err != nil {
		t.fail(err)
		return make([][]byte, len(keys))
	}
	for key := range at {
		t.noteRead(cell{string(b.path), key}, nil) // absent
	}
	return out
}
