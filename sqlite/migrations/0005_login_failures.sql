-- Failed sign-in verifications of an email across its codes, in a window of an hour
-- from the first: at the limit no code is sent or accepted until the window ends.
CREATE TABLE login_failures (
    email        TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start DATETIME NOT NULL
);
