//go:build race

package testutil

// Race is true when the test binary was built with -race, which makes
// byte-at-a-time code several times slower: time bounds scale by it.
const Race = true
