"""Running generated SQL on an in-memory SQLite database and comparing result sets."""

from __future__ import annotations

import pytest

from pytest_modelbench.scorers import QueryResult, SQLDatabase, SQLExecutionError, check_sql

SCHEMA = """
CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, dept TEXT, salary REAL);
CREATE TABLE depts (name TEXT PRIMARY KEY, floor INTEGER);
"""
ROWS = {
    "employees": [
        (1, "Ada", "eng", 120.0),
        (2, "Grace", "eng", 110.5),
        (3, "Linus", "ops", 90.0),
        {"id": 4, "name": "Barbara", "dept": None, "salary": 100.0},  # a mapping row
    ],
    "depts": [("eng", 3), ("ops", 1)],
}


@pytest.fixture(scope="module")
def database() -> SQLDatabase:
    return SQLDatabase(schema=SCHEMA, rows=ROWS)


def test_run_returns_columns_and_rows(database):
    result = database.run("SELECT name, salary FROM employees WHERE dept = 'eng' ORDER BY id")
    assert result == QueryResult(("name", "salary"), (("Ada", 120.0), ("Grace", 110.5)))


def test_same_rows_in_another_order_pass_by_default(database):
    result = check_sql(
        "SELECT name FROM employees ORDER BY name DESC",
        database,
        expected_query="SELECT name FROM employees ORDER BY id",
    )
    assert result.passed and result.score == 1.0 and result
    assert result.reason == "all 4 rows match"
    assert result.columns == ("name",)


def test_order_matters_when_asked(database):
    result = check_sql(
        "SELECT name FROM employees ORDER BY name DESC",
        database,
        expected_query="SELECT name FROM employees ORDER BY name",
        ordered=True,
    )
    assert not result and result.score == 0.0
    assert result.reason == "row 0 is ('Linus',), expected ('Ada',)"
    assert check_sql("SELECT name FROM employees ORDER BY name", database,
                     expected_query="SELECT name FROM employees ORDER BY name ASC", ordered=True)


def test_floats_compare_with_tolerance(database):
    query = "SELECT dept, AVG(salary) FROM employees WHERE dept IS NOT NULL GROUP BY dept"
    assert check_sql(query, database, expected_rows=[("eng", 115.25), ("ops", 90.0 + 1e-10)])
    assert not check_sql(query, database, expected_rows=[("eng", 115.3), ("ops", 90.0)])
    assert check_sql(query, database, expected_rows=[("eng", 115.3), ("ops", 90.0)], abs_tol=0.1)
    # Integers compare exactly, and an integer equals the same float.
    assert check_sql("SELECT COUNT(*) FROM employees", database, expected_rows=[(4.0,)])
    assert not check_sql("SELECT COUNT(*) FROM employees", database, expected_rows=[(5,)])


def test_tolerance_matching_survives_reordering():
    # Sorted by the float column, the rows pair up wrongly ((1.0, 'a') with (1.0, 'b'));
    # matching within the tolerance still pairs each expected row with its close actual row.
    db = SQLDatabase(setup="CREATE TABLE t (x REAL, tag TEXT); INSERT INTO t VALUES (1.0000001, 'b'), (1.0, 'a');")
    assert check_sql("SELECT x, tag FROM t", db, expected_rows=[(1.0, "b"), (1.0000001, "a")], rel_tol=1e-6)
    assert not check_sql("SELECT x, tag FROM t", db, expected_rows=[(1.0, "b"), (1.0000001, "a")], rel_tol=1e-9)


def test_duplicates_count(database):
    result = check_sql("SELECT dept FROM employees WHERE dept = 'eng'", database, expected_rows=[("eng",)])
    assert not result
    assert result.reason == "expected 1 rows, got 2: 1 unexpected row(s), e.g. ('eng',)"


def test_wrong_rows_are_named(database):
    result = check_sql("SELECT name FROM employees WHERE id < 4", database,
                       expected_query="SELECT name FROM employees WHERE id > 1")
    assert not result
    assert result.reason == (
        "the rows differ: 1 expected row(s) missing, e.g. ('Barbara',); 1 unexpected row(s), e.g. ('Ada',)"
    )


def test_column_count_differs(database):
    result = check_sql("SELECT id, name FROM employees", database, expected_query="SELECT name FROM employees")
    assert not result and result.reason == "expected 1 columns, got 2"


def test_null_only_matches_null(database):
    assert check_sql("SELECT dept FROM employees WHERE id = 4", database, expected_rows=[(None,)])
    assert not check_sql("SELECT dept FROM employees WHERE id = 4", database, expected_rows=[("",)])


def test_empty_results(database):
    assert check_sql("SELECT name FROM employees WHERE 0", database, expected_rows=[])
    result = check_sql("SELECT name FROM employees WHERE 0", database, expected_rows=[("Ada",)])
    assert not result and result.reason.startswith("expected 1 rows, got 0")


def test_a_failing_query_is_reported(database):
    result = check_sql("SELECT nme FROM employees", database, expected_rows=[])
    assert not result and result.rows is None
    assert result.error == "OperationalError: no such column: nme"
    assert result.reason == "the query failed: OperationalError: no such column: nme"


def test_queries_cannot_change_the_data(database):
    result = check_sql("DELETE FROM employees", database, expected_rows=[])
    assert not result and "readonly" in result.error
    assert len(database.run("SELECT * FROM employees").rows) == 4


def test_several_statements_are_an_error(database):
    result = check_sql("SELECT 1; SELECT 2", database, expected_rows=[(1,)])
    assert not result and "one statement at a time" in result.error


def test_runaway_query_times_out():
    db = SQLDatabase(schema="CREATE TABLE t (x INTEGER);")
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    result = check_sql(endless, db, expected_rows=[(1,)], timeout_s=0.3)
    assert not result and result.error == "the query ran longer than 0.3 s"


def test_each_query_gets_a_fresh_database():
    db = SQLDatabase(setup="CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
    first, second = db.connect(), db.connect()
    assert first is not second
    first.close()
    second.close()


def test_task_mistakes_raise():
    with pytest.raises(ValueError, match="could not be built: near \"TABLEX\""):
        SQLDatabase(schema="CREATE TABLEX t (x);")
    with pytest.raises(ValueError, match="needs a schema or a setup script"):
        SQLDatabase()
    with pytest.raises(ValueError, match="row 0 of table 't' is 5"):
        SQLDatabase(schema="CREATE TABLE t (x);", rows={"t": [5]})
    db = SQLDatabase(schema="CREATE TABLE t (x);")
    with pytest.raises(ValueError, match="expected_query 'SELECT y FROM t' fails"):
        check_sql("SELECT x FROM t", db, expected_query="SELECT y FROM t")
    with pytest.raises(ValueError, match="exactly one of expected_query= or expected_rows="):
        check_sql("SELECT x FROM t", db)
    with pytest.raises(ValueError, match="rel_tol -1 is not allowed"):
        check_sql("SELECT x FROM t", db, expected_rows=[], rel_tol=-1)
    with pytest.raises(ValueError, match="timeout_s 0 is not allowed"):
        db.run("SELECT 1", timeout_s=0)


def test_run_raises_for_bad_queries(database):
    with pytest.raises(SQLExecutionError, match="no such table: nope"):
        database.run("SELECT * FROM nope")
