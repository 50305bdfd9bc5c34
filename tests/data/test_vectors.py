"""Feature-vector sources: numeric CSV columns and scikit-learn's bundled tables; bad values are
one-line errors naming the file, line and column."""

import numpy as np
import pytest

from warmstart.data.vectors import read_csv_features, read_sklearn_table
from warmstart.errors import DataError


def test_csv_features_columns_labels_and_order(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,label,b\n1,x,2.5\n-3e2,y,0\n")
    table = read_csv_features(path)
    assert table.feature_names == ["a", "b"] and table.labels == ["x", "y"] and table.input_shape == (2,)
    np.testing.assert_array_equal(table.features, np.array([[1, 2.5], [-300, 0]], dtype=np.float32))
    picked = read_csv_features(path, label_field=None, feature_fields=["b", "a"])
    assert picked.labels == [None, None] and picked.features[0].tolist() == [2.5, 1.0]


@pytest.mark.parametrize("body, needle", [
    ("a,label\n1,x\nnan,y\n", r"line 3, column 'a': expected a finite number, got 'nan'"),
    ("a,label\n1,x\n,y\n", r"line 3, column 'a': expected a finite number, got ''"),
    ("a,label\ninf,x\n", r"line 2, column 'a'"),
    ("a,label\nabc,x\n", r"got 'abc'"),
    ("a,label\n1,\n", r"line 2: empty 'label'"),
    ("a,b\n1,2\n", r"no column 'label'"),
    ("a,label\n", r"no data rows"),
    ("", r"file is empty"),
])
def test_csv_bad_values_are_one_line_errors(tmp_path, body, needle):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=needle) as err:
        read_csv_features(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_csv_missing_feature_column(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,label\n1,x\n")
    with pytest.raises(DataError, match=r"no feature column\(s\) \['zz'\]"):
        read_csv_features(path, feature_fields=["a", "zz"])


@pytest.mark.parametrize("name, shape, labels", [
    ("wine", (178, 13), {0, 1, 2}), ("breast_cancer", (569, 30), {0, 1}), ("iris", (150, 4), {0, 1, 2}),
])
def test_sklearn_tables(name, shape, labels):
    table = read_sklearn_table(name)
    assert table.features.shape == shape and table.features.dtype == np.float32
    assert set(table.labels) == labels and len(table.feature_names) == shape[1]


def test_diabetes_is_a_regression_table():
    table = read_sklearn_table("diabetes")
    assert table.features.shape == (442, 10) and all(isinstance(v, float) for v in table.labels)
