package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// TestNotifyInProcess: a notification sent through any executor reaches the listeners
// of its topic on the same store, and no one else.
func TestNotifyInProcess(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir() + "/n.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := db.Driver().(*driver)
	other, err := Open(t.TempDir() + "/o.db")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	inserts, controls, elsewhere := d.GetListener(nil), d.GetListener(nil), other.Driver().GetListener(nil)
	for l, topic := range map[riverdriver.Listener]string{inserts: "river_insert", controls: "river_control", elsewhere: "river_insert"} {
		if err := l.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Listen(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := d.GetExecutor().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: "river_insert", Payload: []string{`{"queue":"deliveries"}`}}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := inserts.WaitForNotification(wctx)
	if err != nil || n.Topic != "river_insert" || n.Payload != `{"queue":"deliveries"}` {
		t.Fatalf("insert listener got %+v, %v", n, err)
	}
	for name, l := range map[string]riverdriver.Listener{"another topic's": controls, "another store's": elsewhere} {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if n, err := l.WaitForNotification(short); err == nil {
			t.Fatalf("%s listener got %+v", name, n)
		}
		cancel()
	}
	// A closed listener gets nothing more.
	inserts.Close(ctx)
	if err := d.GetExecutor().NotifyMany(ctx, &riverdriver.NotifyManyParams{Topic: "river_insert", Payload: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if len(d.bus.listeners) != 1 {
		t.Fatalf("listeners on the bus: %d, want 1 (the control one)", len(d.bus.listeners))
	}
}
