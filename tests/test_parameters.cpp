#include "core/parameters.hpp"

#include <doctest/doctest.h>

using namespace implicit;

TEST_CASE("parameter blocks share one flat vector") {
  ParameterSet<double> p;
  const Index w = p.AddBlock("W", 2, 3);
  const Index t = p.AddBlock("theta", 2, 1);
  CHECK(p.size() == 8);
  CHECK(p.info(t).offset == 6);
  p.Block(w)(1, 2) = 5.0;  // column-major: offset 1 + 2*2 = 5
  p.Block(t)(0, 0) = 7.0;
  CHECK(p.Flat()(5) == 5.0);
  CHECK(p.Flat()(6) == 7.0);
  CHECK(p.Find("theta") == t);
  CHECK_THROWS_AS(p.Find("nope"), Error);
  CHECK_THROWS_AS(p.AddBlock("W", 1, 1), Error);
}

TEST_CASE("binding to external storage keeps values and aliases the storage") {
  ParameterSet<float> p;
  p.AddBlock("a", 3, 1);
  p.Block(0).setConstant(2.0f);
  VectorX<float> big = VectorX<float>::Zero(10);
  p.BindTo(big.data() + 4);
  CHECK(big(4) == 2.0f);
  CHECK(big(6) == 2.0f);
  CHECK(big(7) == 0.0f);
  p.Block(0)(1, 0) = -1.0f;
  CHECK(big(5) == -1.0f);
  CHECK_THROWS_AS(p.AddBlock("b", 1, 1), Error);
}
