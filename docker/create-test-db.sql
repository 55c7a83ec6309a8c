CREATE DATABASE orders_test;
