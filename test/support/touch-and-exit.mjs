// A wake command for tests: does nothing and exits 0, as `systemctl start` would once the server is starting.
process.exit(0);
