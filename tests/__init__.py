"""Tests. tests/unit/<package>/test_<module>.py mirrors the packages; tests/, tests/unit/ and each
tests/unit/<package>/ are packages, so two packages' modules of one name can each have their test file
(tests.unit.ecmon.test_x beside tests.unit.ecmon_worker.test_x), and no test folder lands on sys.path where
it could shadow the real package of its name. tests/integration/ is not a package: pytest puts that folder
on sys.path, which is how its tests import own_stack."""
