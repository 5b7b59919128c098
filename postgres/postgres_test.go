package postgres_test

import (
	"os"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

func skipUnlessPostgres(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
}

func TestConformance(t *testing.T) {
	skipUnlessPostgres(t)
	storetest.Exercise(t, storetest.Postgres.Store)
}

func TestMigrations(t *testing.T) {
	skipUnlessPostgres(t)
	storetest.ExerciseMigrations(t, storetest.Postgres)
}
