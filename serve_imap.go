package main

import "context"

// startIMAP starts this service and registers its shutdown with srv.onStop.
// (Not built yet.)
func (srv *server) startIMAP(ctx context.Context) error { return nil }
