INSERT INTO ticket (id, title, amount, legacy, priority) VALUES (1, 'first', 12.50, 'old', 3), (2, 'second', NULL, NULL, 1);
