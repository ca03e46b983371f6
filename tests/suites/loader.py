"""The contract every registered data loader passes: a valid canonical data set, the files it read, and a
clear error for a path that is not there. A test class mixes in :class:`LoaderContract` and sets ``name``
and ``path`` (a small copy of the source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgpt import registry
from recgpt.data.dataset import Dataset
from recgpt.data.loaders import LoadError, get_loader, load_source, source_files
from recgpt.errors import RecgptError


class LoaderContract:
    name = ""
    path: Path = Path()

    @pytest.fixture(scope="class")
    @classmethod
    def dataset(cls):
        return load_source(cls.name, cls.path)

    def test_the_data_set_is_canonical_and_valid(self, dataset):
        assert isinstance(dataset, Dataset)
        assert dataset.items.num_rows and dataset.events.num_rows
        dataset.validate()  # raises on any broken relation
        assert set(dataset.events.column("item_id").to_pylist()) <= set(dataset.items.column("item_id").to_pylist())

    def test_every_file_it_reads_is_listed(self):
        files = source_files(self.name, self.path)
        assert files and all(Path(f).is_file() for f in files)

    def test_it_is_registered_under_its_name(self):
        assert registry.loaders.name_of(get_loader(self.name)) == registry.loaders.resolve(self.name)

    def test_a_missing_path_is_an_error_naming_it(self, tmp_path):
        missing = tmp_path / "nothing-here" / ("mapping.yaml" if self.name == "custom" else "")
        with pytest.raises((LoadError, RecgptError), match="nothing-here"):
            load_source(self.name, missing)
