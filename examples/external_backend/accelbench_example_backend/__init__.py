"""An accelbench backend defined outside accelbench (see README, "Adding a backend")."""
