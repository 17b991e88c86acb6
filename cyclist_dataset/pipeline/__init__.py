"""The driver: one video through its stages (``unit``), where units run (``executors``), and the run
(``run``)."""
