package postgres_test

import (
	"os"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

func TestConformance(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	storetest.Exercise(t, storetest.Postgres)
}
